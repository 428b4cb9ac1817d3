"""JSON Schema for the Prometheus Operator's PodMonitor (monitoring.coreos.com/v1), which
k8s/monitoring uses.

kubernetes-validate bundles only Kubernetes' own kinds, so this schema is written here from the
Operator's published CRD (monitoring.coreos.com_podmonitors.yaml, Prometheus Operator 0.7x-0.8x,
as kube-prometheus-stack installs it). Like `kubernetes-validate --strict`, it rejects unknown
fields in the metadata, the spec and each endpoint; nested objects Tickflow does not use
(TLS, authorization, relabelings) are checked for their type only. tests/deploy/test_k8s_monitoring.py
adds what a schema cannot check (each PodMonitor selects a workload whose port serves /metrics).
"""
from __future__ import annotations

from typing import Any

from metallb_schemas import _LABEL_SELECTOR, _METADATA

_DURATION = {"type": "string",
             "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"}
_OBJECT = {"type": "object"}
_OBJECTS = {"type": "array", "items": _OBJECT}

_ENDPOINT: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "port": {"type": "string"},
        "portNumber": {"type": "integer", "minimum": 1, "maximum": 65535},
        "targetPort": {"type": ["string", "integer"]},
        "path": {"type": "string"},
        "scheme": {"enum": ["http", "https", "HTTP", "HTTPS"]},
        "params": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
        "interval": _DURATION,
        "scrapeTimeout": _DURATION,
        "honorLabels": {"type": "boolean"},
        "honorTimestamps": {"type": "boolean"},
        "trackTimestampsStaleness": {"type": "boolean"},
        "filterRunning": {"type": "boolean"},
        "followRedirects": {"type": "boolean"},
        "enableHttp2": {"type": "boolean"},
        "proxyUrl": {"type": "string"},
        "relabelings": _OBJECTS,
        "metricRelabelings": _OBJECTS,
        "basicAuth": _OBJECT,
        "bearerTokenSecret": _OBJECT,
        "authorization": _OBJECT,
        "oauth2": _OBJECT,
        "tlsConfig": _OBJECT,
    },
}

POD_MONITOR: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "PodMonitor"},
        "metadata": _METADATA,
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["selector"],
            "properties": {
                "selector": _LABEL_SELECTOR,
                "namespaceSelector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"any": {"type": "boolean"},
                                   "matchNames": {"type": "array", "items": {"type": "string"}}},
                },
                "podMetricsEndpoints": {"type": "array", "items": _ENDPOINT},
                "jobLabel": {"type": "string"},
                "podTargetLabels": {"type": "array", "items": {"type": "string"}},
                "sampleLimit": {"type": "integer", "minimum": 0},
                "targetLimit": {"type": "integer", "minimum": 0},
                "labelLimit": {"type": "integer", "minimum": 0},
                "labelNameLengthLimit": {"type": "integer", "minimum": 0},
                "labelValueLengthLimit": {"type": "integer", "minimum": 0},
                "keepDroppedTargets": {"type": "integer", "minimum": 0},
                "attachMetadata": {"type": "object", "additionalProperties": False,
                                   "properties": {"node": {"type": "boolean"}}},
                "scrapeProtocols": {"type": "array", "items": {"type": "string"}},
                "scrapeClass": {"type": "string"},
            },
        },
    },
}

SCHEMAS = {("monitoring.coreos.com/v1", "PodMonitor"): POD_MONITOR}
