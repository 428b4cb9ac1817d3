"""Settings of the batch side: the services' settings plus what only the DAGs need.

`OrchestrationSettings` extends the one settings object (services/config.py) with the
deployment-check thresholds and endpoints, read from the same TICKFLOW_* environment:

| variable | default | meaning |
|---|---|---|
| `TICKFLOW_CHECK_INGEST_URL` | `<TICKFLOW_INGEST_URL>/readyz` | ingest health endpoint |
| `TICKFLOW_CHECK_PROCESSOR_URL` | `http://<processor metrics host>:<port>/healthz` | processor health endpoint |
| `TICKFLOW_CHECK_GENERATOR_URL` | `http://<generator host>:<port>/healthz` | generator health endpoint |
| `TICKFLOW_CHECK_HTTP_TIMEOUT_S` | `5` | per health request |
| `TICKFLOW_CHECK_PATIENCE_S` | `30` | a failing check is tried again (backing off) for this long before it is red |
| `TICKFLOW_CHECK_KAFKA_TIMEOUT_S` | `10` | Kafka connection and requests |
| `TICKFLOW_CHECK_MAX_LAG` | `10000` | most unprocessed messages (all processor partitions) |
| `TICKFLOW_CHECK_MAX_BAR_AGE_S` | `120` | oldest acceptable "latest bar" per symbol |
| `TICKFLOW_CHECK_STORAGE_MIN_DAYS` | `7` | storage: fewest days left before PostgreSQL's volume is full |
| `TICKFLOW_STORAGE_VOLUME_BYTES` | (empty: unknown) | storage: that volume's size, e.g. `50Gi` (services/config.py) |
| `TICKFLOW_CHECK_K8S_NAMESPACE` | (connection's or pod's namespace) | where the Deployments are |
| `TICKFLOW_CHECK_K8S_LABEL_SELECTOR` | (all Deployments) | which Deployments to check |
| `TICKFLOW_CHECK_EXECUTOR` | (Airflow's default) | executor of deployment_check's tasks (Kubernetes: `LocalExecutor`) |
| `TICKFLOW_ALERT_EMAIL_TO` | (no email) | comma-separated recipients of failure alerts (checks/alerts.py) |
| `TICKFLOW_EVALUATION_FEE_BPS` | `10` | signal_evaluation: fee paid on every entry and exit, in basis points |
| `TICKFLOW_EVALUATION_LOOKBACK_DAYS` | `30` | signal_evaluation: days of bars before the window end |
| `TICKFLOW_FORECAST_HORIZON_DAYS` | `7` | market_forecast: days forecast |
| `TICKFLOW_FORECAST_HISTORY_DAYS` | `730` | market_forecast: most daily candles a model is fitted on |
| `TICKFLOW_FORECAST_CV_WINDOWS` | `5` | market_forecast: rolling-origin cross-validation windows |

market_recommendations, whose recommendations an OpenAI-compatible API phrases when
`TICKFLOW_RECOMMENDATION_LLM_URL` is set:

| variable | default | meaning |
|---|---|---|
| `TICKFLOW_RECOMMENDATION_STALE_DAYS` | `4` | a bar or forecast older than this before the run's end is stale |
| `TICKFLOW_RECOMMENDATION_NEWS_HOURS` | `24` | news sentiment over this many hours before the run's end |
| `TICKFLOW_RECOMMENDATION_LLM_URL` | (empty: off) | base URL of that API (`…/v1`) |
| `TICKFLOW_RECOMMENDATION_LLM_MODEL` | (empty) | the model asked (required with the URL) |
| `TICKFLOW_RECOMMENDATION_LLM_KEY` | (none) | its API key, sent as a bearer token, never logged |
| `TICKFLOW_RECOMMENDATION_LLM_TIMEOUT_S` | `20` | longest wait for one answer (then the template's text is used) |

Airflow connections (environment `AIRFLOW_CONN_<ID>`) override the matching settings when they
are defined; see `services.orchestration.runtime`.
"""
from __future__ import annotations

from pydantic import Field, SecretStr, model_validator

from services.config import Settings

WILDCARD_HOSTS = ("0.0.0.0", "::", "")


class OrchestrationSettings(Settings):
    check_ingest_url: str | None = None
    check_processor_url: str | None = None
    check_generator_url: str | None = None
    check_http_timeout_s: float = Field(5.0, gt=0)
    check_kafka_timeout_s: float = Field(10.0, gt=0)
    check_patience_s: float = Field(30.0, ge=0)
    check_max_lag: int = Field(10_000, ge=0)
    check_max_bar_age_s: float = Field(120.0, gt=0)
    check_storage_min_days: float = Field(7.0, ge=0)
    check_k8s_namespace: str = ""
    check_k8s_label_selector: str = ""
    check_executor: str = ""
    alert_email_to: str = ""
    evaluation_fee_bps: float = Field(10.0, ge=0, le=10_000)
    evaluation_lookback_days: int = Field(30, ge=1)
    forecast_horizon_days: int = Field(7, ge=1, le=90)
    forecast_history_days: int = Field(730, ge=40)
    forecast_cv_windows: int = Field(5, ge=1, le=50)
    recommendation_stale_days: int = Field(4, ge=1)
    recommendation_news_hours: int = Field(24, ge=1, le=24 * 30)
    recommendation_llm_url: str = ""
    recommendation_llm_model: str = ""
    recommendation_llm_key: SecretStr | None = None
    recommendation_llm_timeout_s: float = Field(20.0, gt=0, le=600)

    @model_validator(mode="after")
    def _llm_needs_a_model(self) -> "OrchestrationSettings":
        if self.recommendation_llm_url and not self.recommendation_llm_model:
            raise ValueError("TICKFLOW_RECOMMENDATION_LLM_URL is set: "
                             "TICKFLOW_RECOMMENDATION_LLM_MODEL must name the model")
        return self

    def health_urls(self) -> dict[str, str]:
        """Each service's health endpoint, by service name."""

        def local(host: str, port: int, path: str) -> str:
            host = "127.0.0.1" if host in WILDCARD_HOSTS else host
            return f"http://{host}:{port}{path}"

        return {
            "ingest": self.check_ingest_url or f"{self.ingest_url.rstrip('/')}/readyz",
            "processor": self.check_processor_url
            or local(self.processor_metrics_host, self.processor_metrics_port, "/healthz"),
            "generator": self.check_generator_url
            or local(self.generator_host, self.generator_port, "/healthz"),
        }
