"""The dashboards are well-formed for the Grafana the deploy files pin (offline).

Facts about Grafana 12.4 used here, read from @grafana/schema 12.4.6 (the npm package Grafana
publishes with each release): a new dashboard's schemaVersion is 42, and the core panel types
below are the ones it ships. The queries themselves run in tests/monitoring/test_grafana_queries.py.
"""
from __future__ import annotations

import re
from collections import Counter

import pytest
import yaml
from deploy_model import K8S, compose_raw
from grafana_dashboards import (
    CHART_PROMETHEUS_UID,
    COMPOSE_DATASOURCES,
    K8S_DATASOURCES,
    POSTGRES_TYPE,
    PROMETHEUS_TYPE,
    PROMQL_MACROS,
    SQL_MACROS,
    dashboards,
    datasources,
    expand_sql,
    panels,
    promql_metric_names,
    queries,
    used_macros,
    used_variables,
    variable_names,
)

GRAFANA_VERSION = "12.4.6"
SCHEMA_VERSION = 42
CORE_PANEL_TYPES = {"row", "timeseries", "candlestick", "table", "barchart", "stat", "gauge", "bargauge", "text",
                    "heatmap", "histogram", "piechart", "state-timeline", "status-history", "logs", "xychart"}
GRID_COLUMNS = 24
EXPECTED = {"tickflow-market.json": "Tickflow / Market", "tickflow-pipeline.json": "Tickflow / Pipeline"}


def provisioned_uids() -> dict[str, dict[str, str]]:
    """Where the dashboards run -> {datasource uid: type}."""
    compose = {d["uid"]: d["type"] for d in datasources(COMPOSE_DATASOURCES)}
    k8s = {d["uid"]: d["type"] for d in datasources(K8S_DATASOURCES)} | {CHART_PROMETHEUS_UID: PROMETHEUS_TYPE}
    return {"compose": compose, "kubernetes": k8s}


def test_the_pinned_grafana_is_the_one_compose_and_the_chart_values_run() -> None:
    image = compose_raw()["services"]["grafana"]["image"]
    assert image == f"grafana/grafana:{GRAFANA_VERSION}"
    values = yaml.safe_load((K8S / "monitoring" / "kube-prometheus-stack-values.yaml").read_text())
    assert values["grafana"]["image"]["tag"] == GRAFANA_VERSION
    assert values["grafana"]["sidecar"]["datasources"]["uid"] == CHART_PROMETHEUS_UID


def test_both_dashboards_exist_with_stable_uids_and_the_pinned_schema() -> None:
    found = dashboards()
    assert {name: d["title"] for name, d in found.items()} == EXPECTED
    uids = [d["uid"] for d in found.values()]
    assert len(set(uids)) == len(uids) and all(re.fullmatch(r"[a-z0-9-]{1,40}", u) for u in uids)
    for name, d in found.items():
        assert d["schemaVersion"] == SCHEMA_VERSION, f"{name}: schemaVersion of Grafana {GRAFANA_VERSION}"
        assert "id" not in d or d["id"] is None, f"{name}: a provisioned dashboard carries no database id"
        assert d["time"]["from"].startswith("now-") and d["time"]["to"] == "now"
        assert d["editable"] is False, f"{name}: provisioned from git, changed in git"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_panels_have_unique_ids_a_known_type_and_fit_the_grid_without_overlap(name: str) -> None:
    d = dashboards()[name]
    all_panels = list(panels(d))
    ids = Counter(p["id"] for p in all_panels)
    assert all(isinstance(i, int) and i > 0 for i in ids) and max(ids.values()) == 1, f"duplicate ids: {ids}"
    cells: dict[tuple[int, int], int] = {}
    for p in all_panels:
        assert p["type"] in CORE_PANEL_TYPES, f"{p['title']}: panel type {p['type']} is not a core panel"
        assert p.get("title"), f"panel {p['id']} has no title"
        g = p["gridPos"]
        assert set(g) == {"h", "w", "x", "y"} and all(isinstance(v, int) for v in g.values()), p["title"]
        assert g["w"] >= 1 and g["h"] >= 1 and g["x"] >= 0 and g["y"] >= 0 and g["x"] + g["w"] <= GRID_COLUMNS
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']} overlaps panel {cells[(x, y)]}"
                cells[(x, y)] = p["id"]
        if p["type"] != "row":
            assert p["targets"], f"{p['title']}: no query"
            refs = [t["refId"] for t in p["targets"]]
            assert len(set(refs)) == len(refs), f"{p['title']}: duplicate refIds"


@pytest.mark.parametrize("where", ["compose", "kubernetes"])
def test_every_datasource_reference_is_provisioned_with_its_type(where: str) -> None:
    uids = provisioned_uids()[where]
    seen = set()
    for name, d in dashboards().items():
        refs = [p["datasource"] for p in panels(d) if "datasource" in p]
        refs += [q.datasource for q in queries(d)]
        for ref in refs:
            assert ref["uid"] in uids, f"{name}: datasource uid {ref['uid']} is not provisioned in {where}"
            assert uids[ref["uid"]] == ref["type"], f"{name}: {ref['uid']} is a {uids[ref['uid']]}, not {ref['type']}"
            seen.add(ref["type"])
    assert seen == {POSTGRES_TYPE, PROMETHEUS_TYPE}


def test_the_postgresql_datasource_is_the_read_only_role_in_both_places() -> None:
    for path, host in ((COMPOSE_DATASOURCES, "postgres:5432"), (K8S_DATASOURCES, "postgres.tickflow.svc:5432")):
        (pg,) = [d for d in datasources(path) if d["type"] == POSTGRES_TYPE]
        assert pg["user"] == "tickflow_analyst" and pg["jsonData"]["database"] == "tickflow", path.name
        assert pg["url"] == host, path.name
        assert pg["secureJsonData"]["password"] == "$TICKFLOW_PG_ANALYST_PASSWORD", "from the environment, never inline"
        assert "password" not in pg and "password" not in pg["jsonData"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_variable_a_query_or_title_uses_is_defined(name: str) -> None:
    d = dashboards()[name]
    defined = variable_names(d)
    texts = [q.text for q in queries(d)] + [p["title"] for p in panels(d)]
    used = set().union(*(used_variables(t) for t in texts))
    assert used <= defined, f"{name}: undefined variables {used - defined}"
    assert defined <= used, f"{name}: variables nothing uses {defined - used}"
    for q in queries(d):  # only macros the query tests expand
        allowed = SQL_MACROS if q.datasource["type"] == POSTGRES_TYPE else PROMQL_MACROS
        assert used_macros(q.text) <= allowed, f"{q.where}: {used_macros(q.text) - allowed}"
    order = [v["name"] for v in d.get("templating", {}).get("list", [])]
    for i, variable in enumerate(d.get("templating", {}).get("list", [])):
        if variable["type"] == "query":
            assert used_variables(variable["query"]) <= set(order[:i]), f"${variable['name']} uses a later variable"


def test_the_market_dashboard_is_per_symbol_and_timeframe() -> None:
    d = dashboards()["tickflow-market.json"]
    assert [v["name"] for v in d["templating"]["list"]] == ["symbol", "timeframe"]
    assert all(q.datasource["type"] == POSTGRES_TYPE for q in queries(d))
    for q in queries(d):
        if ": variable $" in q.where:
            continue
        assert "symbol = '$symbol'" in q.text and "timeframe = '$timeframe'" in q.text, q.where
        assert "$__timeFilter(ts)" in q.text, f"{q.where}: follows the time picker"
    types = {p["type"] for p in panels(d)}
    assert {"candlestick", "timeseries", "table"} <= types


def test_the_pipeline_dashboard_covers_what_an_operator_asks() -> None:
    d = dashboards()["tickflow-pipeline.json"]
    names = set().union(*(promql_metric_names(q.text) for q in queries(d)))
    for wanted in ("tickflow_ingest_accepted_total", "tickflow_ingest_rejected_total",
                   "tickflow_ingest_kafka_publish_seconds_bucket", "tickflow_processor_batch_messages_sum",
                   "tickflow_processor_commit_seconds_bucket", "tickflow_processor_end_to_end_delay_seconds_bucket",
                   "tickflow_processor_consumer_lag", "tickflow_dashboard_ws_clients",
                   "tickflow_dashboard_webhook_attempts_total", "tickflow_db_size_bytes",
                   "tickflow_db_growth_bytes_per_day", "tickflow_db_days_until_full",
                   "tickflow_partitions_missing_ahead", "tickflow_partition_default_rows"):
        assert wanted in names, f"the Pipeline dashboard does not show {wanted}"
    assert all(q.datasource["type"] == PROMETHEUS_TYPE for q in queries(d))


def test_macro_expansion_and_promql_names_can_say_no() -> None:
    """Controls for the helpers the query tests rely on."""
    from datetime import datetime, timezone

    start, end = datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2026, 1, 2, tzinfo=timezone.utc)
    sql = expand_sql("SELECT ts AS time FROM bars WHERE $__timeFilter(ts) AND symbol = '$symbol' AND x < $__timeTo()",
                     {"symbol": "AAPL"}, start, end)
    assert sql == ("SELECT ts AS time FROM bars WHERE ts BETWEEN '2026-01-01T00:00:00+00:00' AND "
                   "'2026-01-02T00:00:00+00:00' AND symbol = 'AAPL' AND x < '2026-01-02T00:00:00+00:00'")
    with pytest.raises(AssertionError, match="__unknownMacro"):
        expand_sql("SELECT $__unknownMacro(ts)", {}, start, end)
    assert promql_metric_names("sum by (le) (rate(a_bucket[$__rate_interval])) / b + on() c{x='1'}") == {
        "a_bucket", "b", "c"}
    assert used_variables("WHERE a = '$symbol' AND b = ${timeframe:raw} AND $__timeFilter(ts) [[old]]") == {
        "symbol", "timeframe", "old"}
