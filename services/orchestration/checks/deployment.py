"""Deployment checks: is every part of Tickflow up, connected and keeping up?

Each check returns a `CheckResult` whose message says what is wrong and where (URL, broker,
database, namespace), and is stored as one row of `deployment_checks` per run. Checks never
raise: an unexpected error becomes a failed result naming the exception.

| check | ok when |
|---|---|
| `ingest_health`, `processor_health`, `generator_health` | the service's health URL answers 200 |
| `kafka_topics` | Kafka answers and every topic exists with at least its partition count |
| `consumer_lag` | the processor group's lag (end offsets - committed) is at most `check_max_lag` |
| `data_freshness` | every symbol's latest bar is at most `check_max_bar_age_s` old (database clock) |
| `postgres_schema` | PostgreSQL answers and every migration in sql/ is applied, unchanged |
| `storage` | partitions reach 6 days ahead; the volume (if its size is set) lasts `check_storage_min_days` |
| `kubernetes_rollout` | every Deployment and StatefulSet has all replicas updated and available/ready |

`kubernetes_rollout` is skipped without a cluster.
"""
from __future__ import annotations

import json
import logging
import math
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import httpx
from sqlalchemy import Engine, make_url, text

from services.kafka_io import Topics, make_consumer
from services.orchestration.catalog import CHECKS, SERVICES
from services.orchestration.settings import OrchestrationSettings
from services.retry import Backoff

log = logging.getLogger(__name__)

OK, FAILED, SKIPPED = "ok", "failed", "skipped"

__all__ = ["CHECKS", "CheckResult", "check_consumer_lag", "check_data_freshness", "check_http",
           "check_kafka_topics", "check_kubernetes_rollout", "check_postgres_schema", "check_storage", "db_location",
           "record_check", "run_check", "run_check_patiently", "summarize_run"]


@dataclass(slots=True)
class CheckResult:
    name: str
    status: str  # ok | failed | skipped
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    duration_ms: float = 0.0

    @property
    def failed(self) -> bool:
        return self.status == FAILED

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def db_location(url: str) -> str:
    """host:port/database of a database URL (never the credentials)."""
    u = make_url(url)
    return f"{u.host or 'localhost'}:{u.port or 5432}/{u.database}"


# -- the checks ----------------------------------------------------------------------------------

def check_http(name: str, url: str, timeout: float = 5.0) -> CheckResult:
    service = name.removesuffix("_health")
    try:
        response = httpx.get(url, timeout=timeout)
    except httpx.ConnectError as exc:
        return CheckResult(name, FAILED, f"{service}: GET {url} failed: cannot connect "
                                         f"({exc or 'connection refused'}); is the {service} running?", {"url": url})
    except httpx.TimeoutException:
        return CheckResult(name, FAILED, f"{service}: GET {url} timed out after {timeout:g} s", {"url": url})
    except httpx.HTTPError as exc:
        return CheckResult(name, FAILED, f"{service}: GET {url} failed: {type(exc).__name__}: {exc}", {"url": url})
    body = response.text[:300]
    details = {"url": url, "status_code": response.status_code, "body": body}
    if response.status_code != 200:
        return CheckResult(name, FAILED, f"{service}: GET {url} answered {response.status_code}: {body}", details)
    return CheckResult(name, OK, f"{service}: GET {url} answered 200", details)


def _admin(bootstrap: str, timeout_s: float) -> Any:
    from kafka import KafkaAdminClient

    ms = int(timeout_s * 1000)
    return KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=ms, bootstrap_timeout_ms=ms)


def check_kafka_topics(bootstrap: str, topics: Topics, timeout_s: float = 10.0) -> CheckResult:
    name = "kafka_topics"
    try:
        admin = _admin(bootstrap, timeout_s)
    except Exception as exc:  # noqa: BLE001 - any client error means "unreachable"
        return CheckResult(name, FAILED, f"Kafka at {bootstrap} is unreachable: {type(exc).__name__}: {exc}",
                           {"bootstrap": bootstrap})
    try:
        described = admin.describe_topics([t.name for t in topics.specs])
    finally:
        admin.close()
    found = {t["name"]: len(t["partitions"]) for t in described if not t.get("error_code")}
    missing = [t.name for t in topics.specs if t.name not in found]
    short = [f"{t.name} has {found[t.name]} partition(s), {t.partitions} expected"
             for t in topics.specs if t.name in found and found[t.name] < t.partitions]
    details = {"bootstrap": bootstrap, "partitions": found,
               "expected": {t.name: t.partitions for t in topics.specs}}
    problems = []
    if missing:
        problems.append(f"topic(s) missing: {', '.join(missing)} (create them: python -m services.admin topics)")
    problems += short
    if problems:
        return CheckResult(name, FAILED, f"Kafka at {bootstrap}: " + "; ".join(problems), details)
    return CheckResult(name, OK, f"Kafka at {bootstrap}: {len(found)} topics with their partitions", details)


def kafka_lag(bootstrap: str, group: str, topics: Iterable[str],
              timeout_s: float = 10.0) -> dict[tuple[str, int], dict[str, int | None]]:
    """Per partition of `topics`: end offset, the group's committed offset (None) and the lag.

    A partition without a committed offset lags by everything still retained (end - beginning).
    """
    from kafka import TopicPartition

    admin = _admin(bootstrap, timeout_s)
    try:
        described = admin.describe_topics(list(topics))
        committed_by_group = admin.list_group_offsets({group: None})
    finally:
        admin.close()
    committed = {(tp.topic, tp.partition): meta.offset
                 for tp, meta in committed_by_group.get(group, {}).items() if meta is not None and meta.offset >= 0}
    partitions = [TopicPartition(t["name"], p["partition_index"] if "partition_index" in p else p["partition"])
                  for t in described if not t.get("error_code") for p in t["partitions"]]
    ms = int(timeout_s * 1000)
    consumer = make_consumer(bootstrap, None, bootstrap_timeout_ms=ms, request_timeout_ms=max(ms, 11_000))
    try:
        end = consumer.end_offsets(partitions)
        begin = consumer.beginning_offsets(partitions)
    finally:
        consumer.close()
    out: dict[tuple[str, int], dict[str, int | None]] = {}
    for tp in partitions:
        key = (tp.topic, tp.partition)
        done = committed.get(key)
        base = done if done is not None else begin[tp]
        out[key] = {"end": end[tp], "committed": done, "lag": max(0, end[tp] - base)}
    return out


def check_consumer_lag(bootstrap: str, group: str, topics: Topics, max_lag: int,
                       timeout_s: float = 10.0) -> CheckResult:
    name = "consumer_lag"
    consumed = sorted(topics.by_record_type.values())
    try:
        lags = kafka_lag(bootstrap, group, consumed, timeout_s)
    except Exception as exc:  # noqa: BLE001
        return CheckResult(name, FAILED, f"cannot read the lag of consumer group {group!r} from Kafka at {bootstrap}: "
                                         f"{type(exc).__name__}: {exc}", {"bootstrap": bootstrap, "group": group})
    total = sum(int(v["lag"] or 0) for v in lags.values())
    worst = sorted(((v["lag"] or 0, f"{t}[{p}]") for (t, p), v in lags.items()), reverse=True)[:3]
    never = sorted(f"{t}[{p}]" for (t, p), v in lags.items() if v["committed"] is None and v["lag"])
    details = {"bootstrap": bootstrap, "group": group, "total_lag": total, "max_lag": max_lag,
               "partitions": {f"{t}[{p}]": v for (t, p), v in sorted(lags.items())}}
    if total > max_lag:
        message = (f"consumer group {group!r} is {total} message(s) behind on Kafka at {bootstrap} (limit {max_lag}); "
                   f"most behind: " + ", ".join(f"{tp} {lag}" for lag, tp in worst if lag))
        if never:
            message += f"; no committed offset at all for {', '.join(never)} (is the processor running?)"
        return CheckResult(name, FAILED, message, details)
    return CheckResult(name, OK, f"consumer group {group!r} is {total} message(s) behind (limit {max_lag})", details)


def check_data_freshness(engine: Engine, symbols: Iterable[str], max_age_s: float, where: str) -> CheckResult:
    name = "data_freshness"
    symbols = list(symbols)
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT s.symbol, (SELECT max(ts) FROM bars b WHERE b.symbol = s.symbol AND b.timeframe = 'raw') "
            "AS latest, now() AS now "
            "FROM unnest(CAST(:symbols AS text[])) AS s(symbol)"), {"symbols": symbols}).all()
    ages: dict[str, float | None] = {}
    latest: dict[str, str | None] = {}
    for symbol, ts, now in rows:
        ages[symbol] = None if ts is None else round((now - ts).total_seconds(), 3)
        latest[symbol] = None if ts is None else ts.isoformat()
    stale = [f"{s} latest bar {latest[s]} is {ages[s]:.1f} s old" for s in symbols
             if ages[s] is not None and ages[s] > max_age_s]
    empty = [s for s in symbols if ages[s] is None]
    details = {"database": where, "max_age_s": max_age_s, "age_s": ages, "latest": latest}
    if stale or empty:
        parts = stale + ([f"no bars at all for {', '.join(empty)}"] if empty else [])
        return CheckResult(name, FAILED, f"stale data in bars at {where} (limit {max_age_s:g} s): " + "; ".join(parts)
                           + " — are the generator, ingest and processor running?", details)
    oldest = max(ages.values(), default=0.0) or 0.0
    return CheckResult(name, OK, f"latest bar of each of {len(symbols)} symbols is at most {oldest:.1f} s old "
                                 f"(limit {max_age_s:g} s)", details)


def check_postgres_schema(engine: Engine, where: str, sql_dir: Path | None = None) -> CheckResult:
    from services.db.migrations import SQL_DIR, MigrationError, discover

    name = "postgres_schema"
    sql_dir = sql_dir or SQL_DIR
    try:
        expected = {m.version: m.checksum for m in discover(sql_dir)}
    except (MigrationError, OSError) as exc:
        return CheckResult(name, FAILED, f"cannot read the migrations in {sql_dir}: {exc}", {"sql_dir": str(sql_dir)})
    if not expected:
        return CheckResult(name, FAILED, f"no migration files found in {sql_dir}", {"sql_dir": str(sql_dir)})
    try:
        with engine.connect() as conn:
            exists = conn.execute(text("SELECT to_regclass('schema_migrations') IS NOT NULL")).scalar_one()
            applied = (dict(conn.execute(text("SELECT version, checksum FROM schema_migrations")).all())
                       if exists else {})
    except Exception as exc:  # noqa: BLE001 - the message carries the driver's reason
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        return CheckResult(name, FAILED, f"PostgreSQL at {where} is unreachable: {reason}", {"database": where})
    pending = sorted(set(expected) - set(applied))
    changed = sorted(v for v in expected if v in applied and applied[v] != expected[v])
    details = {"database": where, "applied": sorted(applied), "pending": pending, "changed": changed}
    problems = []
    if pending:
        problems.append(f"migration(s) not applied: {', '.join(pending)} (run: python -m services.admin migrate)")
    if changed:
        problems.append(f"migration file(s) changed after they were applied: {', '.join(changed)}")
    if problems:
        return CheckResult(name, FAILED, f"PostgreSQL at {where}: " + "; ".join(problems), details)
    return CheckResult(name, OK, f"PostgreSQL at {where}: all {len(expected)} migrations applied "
                                 f"({min(expected)} .. {max(expected)})", details)


@contextmanager
def _driver_connection(engine: Engine) -> Iterator[Any]:
    """The engine's psycopg2 connection (the partition helpers take one), back to its pool afterwards."""
    raw = engine.raw_connection()
    try:
        yield raw.driver_connection
    finally:
        raw.close()


def _span(span: timedelta) -> str:
    hours = span / timedelta(hours=1)
    return f"{hours / 24:.1f} days" if hours >= 24 else f"{hours:.1f} h"


def storage_details(figures: Any, where: str, min_days: float) -> dict[str, Any]:
    """The figures as JSON (jsonb has no infinity: a volume that does not fill has days_left null)."""
    days = figures.days_left
    growth = figures.growth
    return {"database": where, "measured_at": figures.measured_at.isoformat(),
            "database_bytes": figures.database_bytes, "used_bytes": figures.used_bytes,
            "volume_bytes": figures.volume_bytes,
            "growth_bytes_per_day": None if growth is None else round(growth.bytes_per_day),
            "growth_since": None if growth is None else growth.since.at.isoformat(),
            "days_left": None if days is None or math.isinf(days) else round(days, 2),
            "filling": days is not None and not math.isinf(days), "min_days": min_days,
            "ahead_days": {k: round(v, 2) for k, v in figures.ahead_days().items()},
            "missing_ahead": figures.missing_ahead, "default_rows": dict(figures.default_rows),
            "table_bytes": dict(figures.table_bytes)}


def storage_summary(figures: Any) -> str:
    """"1.2 GB, +1.1 GB/day over 3.0 days, 80 days left on a 100 GiB volume, partitions at least 6.9 days ahead"."""
    from services.core.storage import size, volume

    parts = [size(figures.database_bytes)]
    growth = figures.growth
    if growth is None:
        parts.append("growth not known yet (it needs samples at least an hour apart)")
    else:
        parts.append(f"{size(growth.bytes_per_day, sign=True)}/day over {_span(growth.span(figures.measured_at))}")
    days = figures.days_left
    if figures.volume_bytes is None:
        parts.append("volume size unknown (TICKFLOW_STORAGE_VOLUME_BYTES)")
    elif days is None:
        parts.append(f"{size(figures.used_bytes)} of a {volume(figures.volume_bytes)} volume used")
    elif math.isinf(days):
        parts.append(f"not filling its {volume(figures.volume_bytes)} volume ({size(figures.used_bytes)} used)")
    else:
        parts.append(f"{days:.0f} days left on a {volume(figures.volume_bytes)} volume "
                     f"({size(figures.used_bytes)} used by all databases)")
    ahead = figures.ahead_days()
    if ahead:
        parts.append(f"partitions at least {min(ahead.values()):.1f} days ahead")
    waiting = {t: n for t, n in figures.default_rows.items() if n}
    if waiting:
        parts.append("rows waiting in DEFAULT partitions: " + ", ".join(f"{t} {n}" for t, n in sorted(waiting.items())))
    return ", ".join(parts)


def check_storage(engine: Engine, settings: OrchestrationSettings, where: str) -> CheckResult:
    """Database size, growth per day, days until the volume is full, partitions ahead (services/core/storage.py);
    records the size as a sample for the growth of later runs."""
    from services.core.storage import storage_problems
    from services.db.storage import measure_and_record

    name = "storage"
    with _driver_connection(engine) as conn:
        figures, _ = measure_and_record(conn, conn, settings.timeframes, settings.storage_volume_bytes)
    details = storage_details(figures, where, settings.check_storage_min_days)
    problems = storage_problems(figures, settings.check_storage_min_days)
    if problems:
        return CheckResult(name, FAILED, f"PostgreSQL at {where}: " + "; ".join(problems)
                           + f" ({storage_summary(figures)})", details)
    return CheckResult(name, OK, f"PostgreSQL at {where}: {storage_summary(figures)}", details)


def _deployment_state(d: Any) -> tuple[dict[str, Any], list[str]]:
    """A Deployment's replica counts, and why it is not rolled out (empty: it is)."""
    desired = d.spec.replicas if d.spec.replicas is not None else 1
    st = d.status
    updated, available, total = st.updated_replicas or 0, st.available_replicas or 0, st.replicas or 0
    observed = (st.observed_generation or 0) >= (d.metadata.generation or 0)
    why = [] if observed else ["controller has not seen the latest spec"]
    if updated < desired:
        why.append(f"{updated}/{desired} updated")
    if available < desired:
        why.append(f"{available}/{desired} available")
    if total > desired:
        why.append(f"{total - desired} old replica(s) still running")
    return ({"desired": desired, "updated": updated, "available": available, "total": total,
             "observed_latest_spec": observed}, why)


def _statefulset_state(s: Any) -> tuple[dict[str, Any], list[str]]:
    """A StatefulSet's replica counts, and why it is not rolled out: as `kubectl rollout status`
    judges a RollingUpdate StatefulSet, every pod ready and on the update revision."""
    desired = s.spec.replicas if s.spec.replicas is not None else 1
    st = s.status
    updated, ready = st.updated_replicas or 0, st.ready_replicas or 0
    observed = (st.observed_generation or 0) >= (s.metadata.generation or 0)
    same_revision = not st.update_revision or st.current_revision == st.update_revision
    why = [] if observed else ["controller has not seen the latest spec"]
    if updated < desired or not same_revision:
        why.append(f"{updated}/{desired} on the update revision")
    if ready < desired:
        why.append(f"{ready}/{desired} ready")
    return ({"desired": desired, "updated": updated, "ready": ready, "observed_latest_spec": observed,
             "current_revision": st.current_revision, "update_revision": st.update_revision}, why)


def check_kubernetes_rollout(apps_api: Any, namespace: str, label_selector: str = "") -> CheckResult:
    """Every Deployment and StatefulSet (matching the selector) in `namespace` fully rolled out.

    `apps_api` is a kubernetes.client.AppsV1Api (or anything with list_namespaced_deployment and
    list_namespaced_stateful_set). Rolled out is what `kubectl rollout status` waits for: the
    controller saw the latest spec and every desired replica is updated and available (a
    Deployment, with no old replicas left) or ready on the update revision (a StatefulSet, such
    as Kafka and PostgreSQL).
    """
    name = "kubernetes_rollout"
    where = f"namespace {namespace}" + (f" (selector {label_selector})" if label_selector else "")
    kinds = (("Deployment", apps_api.list_namespaced_deployment, _deployment_state),
             ("StatefulSet", apps_api.list_namespaced_stateful_set, _statefulset_state))
    found: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for kind, list_them, judge in kinds:
        try:
            items = list_them(namespace, label_selector=label_selector or None).items
        except Exception as exc:  # noqa: BLE001
            return CheckResult(name, FAILED, f"cannot list {kind}s in {where}: {type(exc).__name__}: {exc}",
                               {"namespace": namespace})
        found[kind] = {}
        for item in items:
            state, why = judge(item)
            found[kind][item.metadata.name] = state
            if why:
                problems.append(f"{kind} {item.metadata.name}: " + ", ".join(why))
    details = {"namespace": namespace, "label_selector": label_selector,
               "deployments": found["Deployment"], "statefulsets": found["StatefulSet"]}
    names = [f"{kind} {n}" for kind, states in found.items() for n in sorted(states)]
    if not names:
        return CheckResult(name, FAILED, f"no Deployments or StatefulSets found in {where}", details)
    if problems:
        return CheckResult(name, FAILED, f"not rolled out in {where}: " + "; ".join(problems), details)
    return CheckResult(name, OK, f"{len(names)} workload(s) rolled out in {where}: {', '.join(names)}", details)


# -- running and recording ------------------------------------------------------------------------

def run_check(name: str, settings: OrchestrationSettings, engine: Engine | None = None,
              kubernetes: Callable[[], CheckResult] | None = None) -> CheckResult:
    """Run one check by name; never raises (an error is a failed result)."""
    started = time.perf_counter()
    try:
        if name.endswith("_health") and name.removesuffix("_health") in SERVICES:
            result = check_http(name, settings.health_urls()[name.removesuffix("_health")],
                                settings.check_http_timeout_s)
        elif name == "kafka_topics":
            result = check_kafka_topics(settings.kafka_bootstrap, settings.topics, settings.check_kafka_timeout_s)
        elif name == "consumer_lag":
            result = check_consumer_lag(settings.kafka_bootstrap, settings.processor_group, settings.topics,
                                        settings.check_max_lag, settings.check_kafka_timeout_s)
        elif name in ("data_freshness", "postgres_schema", "storage"):
            if engine is None:
                raise ValueError(f"{name} needs a database engine")
            where = db_location(settings.database_url)
            if name == "data_freshness":
                result = check_data_freshness(engine, settings.symbols, settings.check_max_bar_age_s, where)
            elif name == "storage":
                result = check_storage(engine, settings, where)
            else:
                result = check_postgres_schema(engine, where)
        elif name == "kubernetes_rollout":
            if kubernetes is None:
                raise ValueError("kubernetes_rollout needs a function that runs it (see runtime.kubernetes_check)")
            result = kubernetes()
        else:
            raise ValueError(f"unknown check {name!r}; checks are {', '.join(CHECKS)}")
    except Exception as exc:  # a check reports, it does not crash
        log.exception("check %s raised", name)
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()
        result = CheckResult(name, FAILED, f"{name}: {type(exc).__name__}: {reason[0] if reason else ''}")
    result.duration_ms = round((time.perf_counter() - started) * 1000, 1)
    return result


def run_check_patiently(name: str, settings: OrchestrationSettings, engine: Engine | None = None,
                        kubernetes: Callable[[], CheckResult] | None = None,
                        backoff: Backoff | None = None) -> CheckResult:
    """`run_check`, run again while it fails, for up to `settings.check_patience_s`.

    A service that is still starting (connection refused a few seconds before it listens) is no
    red check; one that stays down is, and its message says for how long it was tried.
    """
    started = time.monotonic()
    deadline = started + settings.check_patience_s
    backoff = backoff or Backoff(base=1.0, cap=8.0)
    result, tries = run_check(name, settings, engine, kubernetes), 1
    while result.failed and (wait := min(backoff.next(), deadline - time.monotonic())) > 0:
        log.info("%s failed, trying again in %.1f s: %s", name, wait, result.message)
        time.sleep(wait)
        result, tries = run_check(name, settings, engine, kubernetes), tries + 1
    if result.failed and tries > 1:
        result.message += f" (still failing after {tries} tries over {time.monotonic() - started:.0f} s)"
    return result


def record_check(engine: Engine, run_id: str, result: CheckResult) -> None:
    """Store the result as the run's row for this check (a retry replaces it)."""
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO deployment_checks (run_id, check_name, status, message, details, duration_ms) "
            "VALUES (:run, :name, :status, :message, CAST(:details AS jsonb), :ms) "
            "ON CONFLICT (run_id, check_name) DO UPDATE SET status = EXCLUDED.status, message = EXCLUDED.message, "
            "details = EXCLUDED.details, duration_ms = EXCLUDED.duration_ms, checked_at = now()"),
            {"run": run_id, "name": result.name, "status": result.status, "message": result.message,
             "details": json.dumps(result.details, default=str), "ms": result.duration_ms})


def summarize_run(engine: Engine, run_id: str, expected: Iterable[str] = CHECKS,
                  task_states: dict[str, str | None] | None = None) -> tuple[bool, str]:
    """(all passed, message) for a run, from its deployment_checks rows.

    A check task records its row whatever the check finds, so a check without one never ran:
    its task never started (e.g. no worker, or Airflow's API server not up yet); `task_states`
    (Airflow's state of each check task) says in which state it was left.
    """
    with engine.connect() as conn:
        rows = {name: (status, message) for name, status, message in conn.execute(
            text("SELECT check_name, status, message FROM deployment_checks WHERE run_id = :run"), {"run": run_id})}
    expected = list(expected)
    failed = [f"{name}: {rows[name][1]}" for name in expected if name in rows and rows[name][0] == FAILED]
    states = task_states or {}
    missing = [f"{name}: task never started" + (f" (Airflow state: {states[name]})" if states.get(name) else "")
               for name in expected if name not in rows]
    skipped = [name for name in expected if name in rows and rows[name][0] == SKIPPED]
    ok = [name for name in expected if name in rows and rows[name][0] == OK]
    if failed or missing:
        problems = failed + missing
        return False, f"{len(problems)} of {len(expected)} deployment checks failed — " + " | ".join(problems)
    note = f" ({len(skipped)} skipped: {', '.join(skipped)})" if skipped else ""
    return True, f"{len(ok)} of {len(expected)} deployment checks passed{note}"
