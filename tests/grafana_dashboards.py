"""The Grafana dashboards and datasources Tickflow provisions, read for tests (Grafana itself
cannot run here).

`k8s/monitoring/dashboards/*.json` are the dashboards (compose mounts the same files), and the
datasources are provisioned from `compose/grafana/provisioning/datasources/tickflow.yaml` and
`k8s/monitoring/grafana-datasource.yaml` (kube-prometheus-stack adds Prometheus with uid
`prometheus`). This module finds every query a dashboard makes, expands the Grafana macros and
variables Tickflow's queries use the way Grafana's SQL datasources do, and names the metrics a
PromQL expression reads (parsed with promql-parser).
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD_DIR = ROOT / "k8s" / "monitoring" / "dashboards"
COMPOSE_DATASOURCES = ROOT / "compose" / "grafana" / "provisioning" / "datasources" / "tickflow.yaml"
K8S_DATASOURCES = ROOT / "k8s" / "monitoring" / "grafana-datasource.yaml"
# kube-prometheus-stack provisions its Prometheus datasource with this uid (its values:
# grafana.sidecar.datasources.uid, set in k8s/monitoring/kube-prometheus-stack-values.yaml).
CHART_PROMETHEUS_UID = "prometheus"
POSTGRES_TYPE = "grafana-postgresql-datasource"
PROMETHEUS_TYPE = "prometheus"


def dashboards() -> dict[str, dict[str, Any]]:
    """File name -> dashboard JSON."""
    return {path.name: json.loads(path.read_text()) for path in sorted(DASHBOARD_DIR.glob("*.json"))}


def datasources(path: Path) -> list[dict[str, Any]]:
    return yaml.safe_load(path.read_text())["datasources"]


def panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows' nested panels too."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


@dataclass(frozen=True)
class Query:
    """One query a dashboard makes: a panel target, an annotation or a template variable."""

    where: str  # "Tickflow / Market: panel 'RSI' A", for messages
    datasource: dict[str, str]
    text: str  # rawSql or expr
    columns: tuple[str, ...] = ()  # the columns the panel reads, for SQL (empty: any)


def queries(dashboard: Mapping[str, Any]) -> Iterator[Query]:
    title = dashboard["title"]
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            datasource = target.get("datasource") or panel["datasource"]
            text = target.get("rawSql") if datasource["type"] == POSTGRES_TYPE else target.get("expr")
            yield Query(f"{title}: panel {panel['title']!r} {target['refId']}", datasource, text,
                        panel_columns(panel))
    for annotation in dashboard.get("annotations", {}).get("list", []):
        if annotation.get("builtIn"):
            continue
        target = annotation["target"]
        yield Query(f"{title}: annotation {annotation['name']!r}", annotation["datasource"], target["rawSql"],
                    ("time", "text", "tags"))
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable["type"] == "query":
            query = variable["query"]
            text = query if isinstance(query, str) else query.get("rawSql") or query.get("query")
            yield Query(f"{title}: variable ${variable['name']}", variable["datasource"], text, (variable["name"],))


def panel_columns(panel: Mapping[str, Any]) -> tuple[str, ...]:
    """The columns a PostgreSQL panel needs: every field it names (candlestick's field map, a bar
    chart's x field, overrides by name), and a `time` column for panels drawn over time."""
    options = panel.get("options", {})
    named = list(options.get("fields", {}).values())
    if "xField" in options:
        named.append(options["xField"])
    for override in panel.get("fieldConfig", {}).get("overrides", []):
        if override["matcher"]["id"] == "byName":
            named.append(override["matcher"]["options"])
    if panel["type"] in ("timeseries", "candlestick", "table"):
        named.insert(0, "time")
    return tuple(dict.fromkeys(named))


def variable_names(dashboard: Mapping[str, Any]) -> set[str]:
    return {v["name"] for v in dashboard.get("templating", {}).get("list", [])}


# The Grafana macros these helpers expand: expand_sql (SQL) and promql_metric_names (PromQL).
SQL_MACROS = {"__timeFilter", "__timeFrom", "__timeTo"}
PROMQL_MACROS = {"__rate_interval", "__interval", "__range"}
_VARIABLE = re.compile(r"\$(?:\{(\w+)(?::\w+)?\}|(\w+))|\[\[(\w+)\]\]")


def used_variables(text: str) -> set[str]:
    """Variables a query or title refers to ($name, ${name}, ${name:fmt}, [[name]]), macros excluded."""
    found = {a or b or c for a, b, c in _VARIABLE.findall(text)}
    return {name for name in found if not name.startswith("__")}


def used_macros(text: str) -> set[str]:
    return {m for m in re.findall(r"\$(__\w+)", text)}


def _sql_time(value: datetime) -> str:
    return f"'{value.isoformat()}'"


def expand_sql(text: str, variables: Mapping[str, str], start: datetime, end: datetime) -> str:
    """`text` as Grafana's PostgreSQL datasource sends it: its macros expanded
    ($__timeFilter(col) -> col BETWEEN 'from' AND 'to', $__timeFrom(), $__timeTo()) and single-value
    variables substituted as they are. Any other macro fails: add it here before a dashboard uses it."""
    out = re.sub(r"\$__timeFilter\(([^)]*)\)", lambda m: f"{m.group(1).strip()} BETWEEN {_sql_time(start)} AND "
                 f"{_sql_time(end)}", text)
    out = out.replace("$__timeFrom()", _sql_time(start)).replace("$__timeTo()", _sql_time(end))
    left = used_macros(out)
    assert not left, f"macros this test does not expand: {sorted(left)}"
    for name in sorted(variables, key=len, reverse=True):
        out = out.replace(f"${{{name}}}", variables[name]).replace(f"${name}", variables[name])
    return out


def promql_metric_names(expr: str) -> set[str]:
    """The metric names an expression selects, Grafana's interval variables set to 1m."""
    import promql_parser

    for macro in sorted(PROMQL_MACROS, key=len, reverse=True):
        expr = expr.replace(f"${macro}", "1m")
    names: set[str] = set()

    def visit(node: object) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            names.add(node.name)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names
