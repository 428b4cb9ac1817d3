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

    log_level: str = "INFO"
    log_format: str = Field("json", pattern="^(json|text)$")

    @field_validator("ingest_tokens", mode="before")
    @classmethod
    def _split_tokens(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(t.strip() for t in value.split(",") if t.strip())
        return value

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
