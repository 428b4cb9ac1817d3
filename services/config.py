"""One settings object for every service, read from environment variables (prefix TICKFLOW_).

Every field is documented in README.md ("Configuration"); command-line flags of the services
override the matching field for one run.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Callable, Iterable
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy import make_url

from services.core.indicators import IndicatorParams
from services.core.records import DEFAULT_MAX_FUTURE_SKEW_S
from services.core.retention import RetentionPolicy, parse_bars_days
from services.core.signals import SignalRules
from services.core.simulation import RecordMix
from services.core.symbols import SymbolPolicy, compile_pattern, is_well_formed
from services.core.timeframes import Timeframe, parse_timeframes

if TYPE_CHECKING:
    from services.kafka_io import Topics

DEFAULT_SYMBOLS = ("AAPL", "GOOGL", "AMZN", "MSFT", "TSLA")
# the core's defaults
_PARAMS, _RULES, _MIX, _RETENTION = IndicatorParams(), SignalRules(), RecordMix(), RetentionPolicy()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TICKFLOW_", extra="ignore")

    # Where things are.
    kafka_bootstrap: str = "127.0.0.1:19092"
    kafka_topic_prefix: str = Field("", description="namespace for topic names, e.g. 'staging.'")
    kafka_replication_factor: int = Field(1, ge=1, description="replicas of each topic ensure_topics creates")
    database_url: str = "postgresql://tickflow_app:tickflow_app@127.0.0.1:15432/tickflow"
    admin_database_url: str = "postgresql://tickflow:tickflow@127.0.0.1:15432/tickflow"
    reader_database_url: str = "postgresql://tickflow_analyst:tickflow_analyst@127.0.0.1:15432/tickflow"
    # The dashboard reads as a login of its own: people (the reader URL) could otherwise see its
    # queries and end its sessions, which PostgreSQL allows within one login.
    dashboard_database_url: str = "postgresql://tickflow_dashboard:tickflow_dashboard@127.0.0.1:15432/tickflow"
    ingest_url: str = Field("http://127.0.0.1:8000", description="ingest base URL; records go to URL/ingest")
    # The ports scripts/local-services.sh runs PostgreSQL and Kafka on. When set, the URLs above that
    # are not set themselves use them, so a second checkout on other ports never reaches the first
    # one's services; a set URL on another port is refused.
    pg_port: int | None = Field(
        None, ge=1, le=65535, description="local PostgreSQL port; the default database URLs use it")
    kafka_port: int | None = Field(None, ge=1, le=65535, description="local Kafka port; the default bootstrap uses it")

    # What the market looks like.
    symbols: Annotated[tuple[str, ...], NoDecode] = Field(
        DEFAULT_SYMBOLS, description="comma-separated symbols: generated, and always accepted")
    symbol_pattern: str = Field(
        "", description="regular expression: symbols outside the list that are accepted too, e.g. "
                        "'[A-Z]{1,5}|[A-Z]{3}/USD'; '.*' accepts every well-formed symbol; empty: the list only")
    max_future_skew_seconds: float = Field(
        DEFAULT_MAX_FUTURE_SKEW_S, gt=0,
        description="how far ahead of the clock a record's timestamp may be (ingest: its clock; processor: the time "
                    "Kafka stamped on the message); a record at the limit can make that long of its symbol's bars late")

    # Every HTTP server (ingest, the dashboard, the generator's and the operations ports): what one
    # client may hold (services/http_guard.py).
    http_header_timeout_s: float = Field(
        10.0, gt=0, description="a request's line and headers must arrive within this many seconds of its start "
                                "(or of connecting); then 408 and the connection is closed")
    http_max_url_bytes: int = Field(
        8192, ge=1024, le=1_048_576, description="longest request target (path and query) read; longer: 414")

    # Ingest.
    ingest_host: str = Field("127.0.0.1", description="bind address")
    ingest_port: int = Field(8000, ge=0, le=65535, description="port")
    ingest_workers: int = Field(2, ge=1, description="worker processes, each with its own Kafka producer")
    ingest_ops_host: str = Field("127.0.0.1", description="bind address of the operations port")
    ingest_ops_port: int = Field(
        8010, ge=0, le=65535,
        description="operations port: /metrics (all workers), /docs, /openapi.json, /healthz; never public; 0 disables")
    ingest_max_batch: int = Field(5000, ge=1)
    ingest_max_body_bytes: int = Field(5_000_000, ge=1024)
    ingest_body_timeout_s: float = Field(
        30.0, gt=0, description="longest time a client may take to send one request body (slow senders get 408)")
    # Bearer tokens ingest accepts (comma-separated). Empty: no authentication. Never logged.
    ingest_tokens: Annotated[tuple[SecretStr, ...], NoDecode] = ()

    # Generator.
    generator_host: str = Field("127.0.0.1", description="HTTP server host")
    generator_port: int = Field(8001, ge=0, le=65535, description="HTTP server port")
    generator_rate: float = Field(50.0, gt=0, description="candles per second, all symbols together")
    generator_workers: int = Field(1, ge=1, description="worker threads; symbols are partitioned over them")
    generator_batch: int = Field(100, ge=1, description="max records per POST")
    generator_seed: int = Field(42, description="random seed")
    generator_flush_ms: float = Field(
        200.0, gt=0, description="send a partial batch once its oldest record waited this long (ms)")
    generator_max_retries: int | None = Field(
        None, ge=0, description="retries per batch before counting it undelivered (none: retry forever)")
    generator_timeout_s: float = Field(10.0, gt=0, description="HTTP request timeout in seconds")
    generator_shutdown_timeout_s: float = Field(
        10.0, gt=0, description="on SIGTERM/SIGINT, seconds to keep retrying buffered batches")
    generator_log_interval_s: float = Field(5.0, gt=0, description="seconds between progress log lines")
    generator_history_s: float = Field(
        0.0, ge=0, le=90 * 86400,
        description="first send this many seconds of recent history, as fast as ingest takes it, then go on live")
    generator_history_interval_s: float = Field(
        10.0, ge=0.001, description="seconds between a symbol's candles in the history")
    # Side records per candle (probabilities); the defaults are the simulation's own.
    generator_order_book: float = Field(
        _MIX.order_book, ge=0, le=1, description="chance of an order-book quote, one buy + one sell entry")
    generator_news: float = Field(_MIX.news, ge=0, le=1, description="chance of a news_sentiment record")
    generator_market_data: float = Field(
        _MIX.market_data, ge=0, le=1, description="chance of a market_data record")
    generator_economic: float = Field(
        _MIX.economic, ge=0, le=1,
        description="chance of an economic_indicator release per round over all symbols")
    # TICKFLOW_INGEST_TOKEN: bearer token the generator sends to ingest; never logged
    # (SecretStr masks it in repr() and str(); read it with get_secret_value()).
    ingest_token: SecretStr | None = None

    # Replay of OHLCV files (services/replay).
    replay_batch: int = Field(1000, ge=1, description="candles per POST")
    replay_max_retries: int | None = Field(
        None, ge=0, description="retries per batch before counting it undelivered (none: retry forever)")
    replay_timeout_s: float = Field(30.0, gt=0, description="HTTP request timeout in seconds")

    # Alpaca feed (services/feed): Alpaca's bars, historical and live, through ingest. The keys are read
    # from Alpaca's own variables (APCA_API_KEY_ID, APCA_API_SECRET_KEY) and never logged.
    alpaca_api_key_id: SecretStr | None = Field(
        None, validation_alias=AliasChoices("APCA_API_KEY_ID", "alpaca_api_key_id"))
    alpaca_api_secret_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("APCA_API_SECRET_KEY", "alpaca_api_secret_key"))
    alpaca_symbols: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="comma-separated symbols to feed; a pair with '/' is crypto (BTC/USD), the rest stocks")
    alpaca_timeframe: str = Field(
        "1Min", pattern=r"^[1-9][0-9]*(Min|Hour|Day)$",
        description="Alpaca bar timeframe of a backfill: 1Min, 5Min, 1Hour, 1Day (live bars are 1Min)")
    alpaca_stock_feed: str = Field("iex", pattern="^(iex|sip)$", description="Alpaca's stock data feed")
    alpaca_data_url: str = Field("", description="market data REST base URL; empty: Alpaca's (alpaca-py's default)")
    alpaca_stream_url: str = Field(
        "", description="market data WebSocket base URL; empty: Alpaca's (alpaca-py's default)")
    alpaca_history_s: float = Field(
        86400.0, ge=0, description="live: a symbol with no stored bar is first filled from this many seconds ago")
    alpaca_fetch_limit: int = Field(10_000, ge=1, le=10_000, description="bars per historical request")
    alpaca_batch: int = Field(1000, ge=1, description="bars per POST to ingest")
    alpaca_timeout_s: float = Field(
        30.0, gt=0, description="timeout in seconds of a request to ingest or to Alpaca's historical API")
    alpaca_ops_host: str = Field("127.0.0.1", description="bind address of /healthz, /readyz, /metrics")
    alpaca_ops_port: int = Field(8004, ge=0, le=65535, description="port for /healthz, /readyz, /metrics; 0 disables")

    # Processor.
    processor_group: str = Field("tickflow-processor", description="Kafka consumer group")
    processor_batch_max: int = Field(5000, ge=1, description="most records per batch/transaction")
    processor_batch_timeout_ms: int = Field(50, ge=1, description="longest wait for a batch to fill (ms)")
    processor_session_timeout_ms: int = Field(10_000, ge=6_000, description="Kafka group session timeout")
    processor_bootstrap_timeout_ms: int = Field(
        10_000, ge=1_000, description="one attempt to reach Kafka at start-up lasts this long; then it is retried "
                                      "with backoff (unready, alive)")
    processor_stall_timeout_s: float = Field(
        20.0, gt=0, description="no records for this long while partitions have unread ones: reconnect")
    processor_stuck_transaction_s: float = Field(
        15.0, gt=0, description="PostgreSQL ends a processor transaction idle or one statement busy this long "
                                "(a frozen processor must not hold the dashboard_feed commit-order lock for longer)")
    processor_liveness_timeout_s: float = Field(
        60.0, gt=0, description="/healthz fails once the poll loop has not run for this long")
    processor_metrics_host: str = "127.0.0.1"
    processor_metrics_port: int = Field(
        8002, ge=0, le=65535, description="port for /healthz, /readyz, /metrics; 0 disables")

    # Indicators and signal rules: validated by IndicatorParams and SignalRules (services/core),
    # which the stream and the batch reference are built from.
    sma_period: int = _PARAMS.sma_period
    ema_fast_period: int = _PARAMS.ema_fast_period
    ema_slow_period: int = _PARAMS.ema_slow_period
    rsi_period: int = _PARAMS.rsi_period
    macd_fast: int = _PARAMS.macd_fast
    macd_slow: int = _PARAMS.macd_slow
    macd_signal: int = _PARAMS.macd_signal
    bollinger_period: int = _PARAMS.bollinger_period
    bollinger_k: float = _PARAMS.bollinger_k
    rsi_oversold: float = _RULES.rsi_oversold
    rsi_overbought: float = _RULES.rsi_overbought
    # Candles the processor rolls the base bars up into (README, "Timeframes"); empty: none.
    timeframes: Annotated[tuple[str, ...], NoDecode] = Field(
        ("1m", "5m", "1h", "1d"),
        description="comma-separated timeframes the processor rolls base bars up into, e.g. 1m,5m,1h,1d")

    # Data lifecycle (README "Data lifecycle"): how long each tier is kept; old data leaves by whole
    # time partitions (the data_retention DAG). 0 days keeps a tier for good.
    retention_bars: Annotated[tuple[tuple[str, int], ...], NoDecode] = Field(
        _RETENTION.bars_days,
        description="days kept per timeframe, bars and their signals alike, e.g. raw=7,1m=90; a timeframe not "
                    "listed (5m, 1h, 1d by default) is kept for good")
    retention_market_days: int = Field(
        _RETENTION.market_days, ge=0, description="days of order book, news sentiment, market data and economic "
                                                  "indicators kept")
    retention_reject_days: int = Field(_RETENTION.reject_days, ge=0, description="days of late bars and dead "
                                                                                 "letters kept")
    retention_history_days: int = Field(
        _RETENTION.history_days, ge=0, description="days of deployment check results and indicator reconciliation "
                                                   "runs kept")
    retention_webhook_days: int = Field(
        _RETENTION.webhook_days, ge=0, description="days finished webhook deliveries (delivered or given up) and "
                                                   "their attempts are kept; pending ones always are")
    retention_airflow_days: int = Field(
        30, ge=0, description="days of Airflow's own run history kept (airflow db clean); 0 keeps it")
    # Airflow 3 tasks cannot reach Airflow's metadata database: data_retention's `airflow db clean` is
    # given it here (never logged).
    airflow_database_url: SecretStr | None = None
    # Storage figures (services/core/storage.py): the storage check and the dashboard's metrics.
    storage_volume_bytes: int | None = Field(
        None, gt=0, description="size of the volume PostgreSQL's data is on, in bytes or as Kubernetes writes it "
                                "(50Gi); empty: unknown, and days until full is not computed")
    storage_refresh_s: float = Field(
        60.0, ge=1, description="the dashboard reads the storage figures for /metrics this often (seconds)")

    # Dashboard (services/dashboard): page, read-only REST, WebSocket live updates, webhooks.
    dashboard_host: str = Field("127.0.0.1", description="bind address")
    dashboard_port: int = Field(8003, ge=0, le=65535, description="port")
    dashboard_feed_retention_hours: float = Field(24.0, gt=0, description="dashboard_feed rows kept for resuming")
    dashboard_ws_max_clients: int = Field(
        200, ge=1, description="WebSocket clients served at once; more are told to retry")
    dashboard_ws_send_timeout_s: float = Field(
        10.0, gt=0, description="a WebSocket client that does not take a message for this long is dropped")
    dashboard_ws_buffer_bytes: int = Field(
        262_144, ge=16_384, description="bytes held unsent for one WebSocket client (kernel send buffer and write "
                                        "buffer) before a send waits; waiting the send timeout drops the client")
    dashboard_vendor_dir: str = Field(
        "", description="npm's node_modules for the page; empty: services/dashboard/web/node_modules")
    # Webhooks for new signals: comma-separated URLs; each POST is signed with HMAC-SHA256 of the
    # body under webhook_secret (required when URLs are set; never logged).
    webhook_urls: Annotated[tuple[str, ...], NoDecode] = ()
    webhook_secret: SecretStr | None = None
    webhook_max_attempts: int = Field(8, ge=1)
    webhook_backoff_s: float = Field(1.0, gt=0, description="delay before the 2nd attempt; doubles per attempt")
    webhook_backoff_max_s: float = Field(300.0, gt=0)
    webhook_timeout_s: float = Field(5.0, gt=0)
    # market_summary DAG: a signal "hits" when the close N bars later moved in its direction.
    summary_horizon_bars: int = Field(
        5, ge=1, description="bars after a signal that decide whether it was a hit (market summaries)")
    # signal_evaluation rows: a rule with fewer closed trades than this is too few to judge, wherever
    # it is judged (/api/evaluations, the dashboard's table, the recommendations' evidence).
    evaluation_min_trades: int = Field(
        10, ge=1, description="closed trades a rule needs before its evaluation is judged (fewer: marked "
                              "'too few trades' in /api/evaluations and on the dashboard, and not counted as "
                              "evidence by market_recommendations)")

    log_level: str = "INFO"
    log_format: str = Field("json", pattern="^(json|text)$")

    @field_validator("ingest_tokens", mode="before")
    @classmethod
    def _split_tokens(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(t.strip() for t in value.split(",") if t.strip())
        return value

    @field_validator("webhook_urls", mode="before")
    @classmethod
    def _split_webhook_urls(cls, value: object) -> object:
        if isinstance(value, str):
            value = [u.strip() for u in value.split(",") if u.strip()]
        if not isinstance(value, Iterable):
            raise ValueError(f"expected comma-separated URLs, got {type(value).__name__}")
        urls = tuple(value)
        bad = [u for u in urls if not str(u).startswith(("http://", "https://"))]
        if bad:
            raise ValueError(f"webhook URLs must start with http:// or https://: {bad}")
        return urls

    @field_validator("storage_volume_bytes", mode="before")
    @classmethod
    def _parse_volume(cls, value: object) -> object:
        return parse_bytes(value) if isinstance(value, str) else value

    @field_validator("timeframes", mode="before")
    @classmethod
    def _parse_timeframes(cls, value: object) -> object:
        if not isinstance(value, (str, Iterable)):
            raise ValueError(f"expected comma-separated timeframes, got {type(value).__name__}")
        text = value if isinstance(value, str) else ",".join(map(str, value))
        return tuple(tf.name for tf in parse_timeframes(text))

    @field_validator("retention_bars", mode="before")
    @classmethod
    def _parse_retention_bars(cls, value: object) -> object:
        return parse_bars_days(value) if isinstance(value, str) else value

    @field_validator("symbols", "alpaca_symbols", mode="before")
    @classmethod
    def _split_symbols(cls, value: object, info: ValidationInfo) -> object:
        if isinstance(value, str):
            value = [s.strip().upper() for s in value.split(",") if s.strip()]
        if not isinstance(value, Iterable):
            raise ValueError(f"expected comma-separated symbols, got {type(value).__name__}")
        symbols = tuple(dict.fromkeys(value))
        if not symbols and info.field_name == "symbols":
            raise ValueError("at least one symbol is required")
        bad = [s for s in symbols if not isinstance(s, str) or not is_well_formed(s)]
        if bad:
            raise ValueError(f"not a well-formed symbol: {', '.join(map(repr, bad))}")
        return symbols

    @field_validator("symbol_pattern")
    @classmethod
    def _pattern_compiles(cls, value: str) -> str:
        compile_pattern(value)
        return value.strip()

    @model_validator(mode="after")
    def _urls_follow_the_local_ports(self) -> "Settings":
        if self.pg_port is not None:
            for name in DATABASE_URL_FIELDS:
                setattr(self, name, self._on_port(name, "TICKFLOW_PG_PORT", self.pg_port, database_url_ports,
                                                  database_url_on_port))
        if self.kafka_port is not None:
            self.kafka_bootstrap = self._on_port("kafka_bootstrap", "TICKFLOW_KAFKA_PORT", self.kafka_port,
                                                 bootstrap_ports, bootstrap_on_port)
        return self

    def _on_port(self, name: str, port_variable: str, port: int, ports_of: Callable[[str], list[int]],
                 moved_to: Callable[[str, int], str]) -> str:
        """The field `name` on `port`: its default moved there; a value set on another port refused."""
        value: str = getattr(self, name)
        if name not in self.model_fields_set:
            return moved_to(value, port)
        other = [p for p in ports_of(value) if p != port]
        if other:
            raise ValueError(f"TICKFLOW_{name.upper()} uses port {other[0]} but {port_variable}={port}: "
                             f"unset one of them, or make them agree")
        return value

    @model_validator(mode="after")
    def _indicators_and_rules_are_valid(self) -> "Settings":
        self.indicator_params()
        self.signal_rules()
        return self

    def with_updates(self, **updates: object) -> "Settings":
        """A copy with `updates` applied and validated by the same fields as the environment."""
        return type(self).model_validate({**self.model_dump(), **updates})

    def indicator_params(self) -> IndicatorParams:
        return IndicatorParams(**{name: getattr(self, name) for name in IndicatorParams.__dataclass_fields__})

    def symbol_policy(self) -> SymbolPolicy:
        """Which symbols ingest, the dashboard and the DAGs accept (services/core/symbols.py)."""
        return SymbolPolicy(frozenset(self.symbols), compile_pattern(self.symbol_pattern))

    def timeframe_specs(self) -> tuple[Timeframe, ...]:
        return tuple(Timeframe.parse(name) for name in self.timeframes)

    def retention_policy(self) -> RetentionPolicy:
        return RetentionPolicy(self.retention_bars, self.retention_market_days, self.retention_reject_days,
                               self.retention_history_days, self.retention_webhook_days)

    def signal_rules(self) -> SignalRules:
        return SignalRules(**{name: getattr(self, name) for name in SignalRules.__dataclass_fields__})

    @property
    def topics(self) -> "Topics":
        from services.kafka_io import Topics

        return Topics(self.kafka_topic_prefix)


_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12,
          "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}


def parse_bytes(text: str) -> int | None:
    """"10737418240", "10Gi", "10GiB", "50G" -> bytes (Ki, Mi, Gi, Ti binary; k, M, G, T decimal); "": None."""
    text = text.strip()
    if not text:
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kKmMgGtT]i?)?[bB]?", text)
    if not match:
        raise ValueError(f"{text!r}: expected bytes, e.g. 107374182400 or 100Gi")
    return int(float(match[1]) * _UNITS[(match[2] or "").lower()])


DATABASE_URL_FIELDS = ("database_url", "admin_database_url", "reader_database_url", "dashboard_database_url")
POSTGRES_DEFAULT_PORT, KAFKA_DEFAULT_PORT = 5432, 9092


def database_url_ports(url: str) -> list[int]:
    return [make_url(url).port or POSTGRES_DEFAULT_PORT]


def database_url_on_port(url: str, port: int) -> str:
    return make_url(url).set(port=port).render_as_string(hide_password=False)


def bootstrap_ports(bootstrap: str) -> list[int]:
    servers = (server.strip() for server in bootstrap.split(",") if server.strip())
    return [urlsplit(f"//{server}").port or KAFKA_DEFAULT_PORT for server in servers]


def bootstrap_on_port(bootstrap: str, port: int) -> str:
    servers = (server.strip() for server in bootstrap.split(",") if server.strip())
    return ",".join(f"{re.sub(r':[0-9]+$', '', server)}:{port}" for server in servers)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
