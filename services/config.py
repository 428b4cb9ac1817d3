"""One settings object for every service, read from environment variables (prefix TICKFLOW_).

Every field is documented in README.md ("Configuration"); command-line flags of the services
override the matching field for one run.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_SYMBOLS = ("AAPL", "GOOGL", "AMZN", "MSFT", "TSLA")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TICKFLOW_", extra="ignore")

    # Where things are.
    kafka_bootstrap: str = "127.0.0.1:19092"
    kafka_topic_prefix: str = Field("", description="namespace for topic names, e.g. 'staging.'")
    kafka_replication_factor: int = Field(1, ge=1, description="replicas of each topic ensure_topics creates")
    database_url: str = "postgresql://tickflow_app:tickflow_app@127.0.0.1:15432/tickflow"
    admin_database_url: str = "postgresql://tickflow:tickflow@127.0.0.1:15432/tickflow"
    reader_database_url: str = "postgresql://tickflow_analyst:tickflow_analyst@127.0.0.1:15432/tickflow"
    ingest_url: str = "http://127.0.0.1:8000"

    # What the market looks like.
    symbols: Annotated[tuple[str, ...], NoDecode] = DEFAULT_SYMBOLS
    max_future_skew_seconds: float = Field(300.0, gt=0)

    # Ingest.
    ingest_host: str = "127.0.0.1"
    ingest_port: int = 8000
    ingest_workers: int = Field(2, ge=1)
    ingest_max_batch: int = Field(5000, ge=1)
    ingest_max_body_bytes: int = Field(5_000_000, ge=1024)
    ingest_body_timeout_s: float = Field(
        30.0, gt=0, description="longest time a client may take to send one request body (slow senders get 408)")
    # Bearer tokens ingest accepts (comma-separated). Empty: no authentication. Never logged.
    ingest_tokens: Annotated[tuple[SecretStr, ...], NoDecode] = ()

    # Generator.
    generator_host: str = "127.0.0.1"
    generator_port: int = 8001
    generator_rate: float = Field(50.0, gt=0, description="candles per second, all symbols together")
    generator_workers: int = Field(1, ge=1)
    generator_batch: int = Field(100, ge=1)
    generator_seed: int = 42
    # TICKFLOW_INGEST_TOKEN: bearer token the generator sends to ingest; never logged
    # (SecretStr masks it in repr() and str(); read it with get_secret_value()).
    ingest_token: SecretStr | None = None

    # Processor.
    processor_group: str = "tickflow-processor"
    processor_batch_max: int = Field(5000, ge=1)
    processor_batch_timeout_ms: int = Field(50, ge=1)
    processor_session_timeout_ms: int = Field(10_000, ge=6_000, description="Kafka group session timeout")
    processor_stall_timeout_s: float = Field(
        20.0, gt=0, description="no records for this long while partitions have unread ones: reconnect")
    processor_stuck_transaction_s: float = Field(
        15.0, gt=0, description="PostgreSQL ends a processor transaction idle or one statement busy this long "
                                "(a frozen processor must not hold the feed's commit-order lock for longer)")
    processor_metrics_host: str = "127.0.0.1"
    processor_metrics_port: int = 8002

    # Indicators and signal rules.
    sma_period: int = Field(20, ge=1)
    ema_fast_period: int = Field(12, ge=1)
    ema_slow_period: int = Field(26, ge=1)
    rsi_period: int = Field(14, ge=1)
    macd_fast: int = Field(12, ge=1)
    macd_slow: int = Field(26, ge=1)
    macd_signal: int = Field(9, ge=1)
    bollinger_period: int = Field(20, ge=1)
    bollinger_k: float = Field(2.0, gt=0)
    rsi_oversold: float = 30.0
    rsi_overbought: float = 70.0

    # Dashboard (services/dashboard): page, read-only REST, WebSocket feed, webhooks.
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = 8003
    dashboard_feed_retention_hours: float = Field(24.0, gt=0, description="dashboard_feed rows kept for resuming")
    dashboard_ws_max_clients: int = Field(200, ge=1, description="WebSocket clients served at once; more are told to retry")
    dashboard_ws_send_timeout_s: float = Field(
        10.0, gt=0, description="a WebSocket client that does not take a message for this long is dropped")
    dashboard_vendor_dir: str = Field("", description="npm's node_modules for the page; empty: services/dashboard/web/node_modules")
    # Webhooks for new signals: comma-separated URLs; each POST is signed with HMAC-SHA256 of the
    # body under webhook_secret (required when URLs are set; never logged).
    webhook_urls: Annotated[tuple[str, ...], NoDecode] = ()
    webhook_secret: SecretStr | None = None
    webhook_max_attempts: int = Field(8, ge=1)
    webhook_backoff_s: float = Field(1.0, gt=0, description="delay before the 2nd attempt; doubles per attempt")
    webhook_backoff_max_s: float = Field(300.0, gt=0)
    webhook_timeout_s: float = Field(5.0, gt=0)
    # market_summary DAG: a signal "hits" when the close N bars later moved in its direction.
    summary_horizon_bars: int = Field(5, ge=1)

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
        urls = tuple(value)  # type: ignore[arg-type]
        bad = [u for u in urls if not str(u).startswith(("http://", "https://"))]
        if bad:
            raise ValueError(f"webhook URLs must start with http:// or https://: {bad}")
        return urls

    @field_validator("symbols", mode="before")
    @classmethod
    def _split_symbols(cls, value: object) -> object:
        if isinstance(value, str):
            value = [s.strip().upper() for s in value.split(",") if s.strip()]
        return tuple(value)  # type: ignore[arg-type]

    @property
    def topics(self) -> "Topics":
        from services.kafka_io import Topics

        return Topics(self.kafka_topic_prefix)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
