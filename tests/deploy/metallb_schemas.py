"""JSON Schemas for the two MetalLB custom resources the local overlay uses.

kubernetes-validate bundles only Kubernetes' own kinds, and no PyPI, npm or Debian package ships
MetalLB's CRDs, so these schemas are written here from MetalLB's published CRDs
(metallb.io/v1beta1, MetalLB 0.13 to 0.15: config/crd/bases/metallb.io_ipaddresspools.yaml and
metallb.io_l2advertisements.yaml). Like `kubernetes-validate --strict`, they reject unknown
fields at every level. tests/deploy/test_k8s_manifests.py adds the checks a schema cannot make
(address syntax, references between the two objects, the namespace MetalLB watches).
"""
from __future__ import annotations

from typing import Any

_STRINGS = {"type": "array", "items": {"type": "string"}}

_LABEL_SELECTOR: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}},
        "matchExpressions": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["key", "operator"],
                "properties": {
                    "key": {"type": "string"},
                    "operator": {"enum": ["In", "NotIn", "Exists", "DoesNotExist"]},
                    "values": _STRINGS,
                },
            },
        },
    },
}

_METADATA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", "maxLength": 253},
        "namespace": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}


def _resource(kind: str, spec: dict[str, Any], spec_required: bool) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": False,
        "required": ["apiVersion", "kind", "metadata"] + (["spec"] if spec_required else []),
        "properties": {
            "apiVersion": {"const": "metallb.io/v1beta1"},
            "kind": {"const": kind},
            "metadata": _METADATA,
            "spec": spec,
        },
    }


IP_ADDRESS_POOL = _resource("IPAddressPool", {
    "type": "object",
    "additionalProperties": False,
    "required": ["addresses"],
    "properties": {
        "addresses": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "autoAssign": {"type": "boolean"},
        "avoidBuggyIPs": {"type": "boolean"},
        "serviceAllocation": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "priority": {"type": "integer"},
                "namespaces": _STRINGS,
                "namespaceSelectors": {"type": "array", "items": _LABEL_SELECTOR},
                "serviceSelectors": {"type": "array", "items": _LABEL_SELECTOR},
            },
        },
    },
}, spec_required=True)

L2_ADVERTISEMENT = _resource("L2Advertisement", {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "ipAddressPools": _STRINGS,
        "ipAddressPoolSelectors": {"type": "array", "items": _LABEL_SELECTOR},
        "nodeSelectors": {"type": "array", "items": _LABEL_SELECTOR},
        "interfaces": _STRINGS,
    },
}, spec_required=False)

SCHEMAS = {("metallb.io/v1beta1", "IPAddressPool"): IP_ADDRESS_POOL,
           ("metallb.io/v1beta1", "L2Advertisement"): L2_ADVERTISEMENT}
