"""Kubernetes quantities and the deep-merge escape hatch."""

from __future__ import annotations

from decimal import Decimal

import pytest

from airflow_provider_kuberay.specs import SpecValidationError, deep_merge, load_overrides
from airflow_provider_kuberay.specs.quantities import format_quantity, parse_quantity


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Decimal("0.5")),
        ("2", Decimal(2)),
        (2, Decimal(2)),
        (0.25, Decimal("0.25")),
        ("1.5", Decimal("1.5")),
        ("4Gi", Decimal(4 * 2**30)),
        ("512Mi", Decimal(512 * 2**20)),
        ("40G", Decimal(40 * 10**9)),
        ("1k", Decimal(1000)),
        ("1e3", Decimal(1000)),
        ("100u", Decimal("0.0001")),
        (".5", Decimal("0.5")),
    ],
)
def test_parse_quantity(text: object, value: Decimal) -> None:
    assert parse_quantity(text, "x") == value


@pytest.mark.parametrize("bad", ["", "two", "8GB", "1.2.3", "4 Gi", "Gi", True, None, [1], float("nan")])
def test_parse_quantity_rejects(bad: object) -> None:
    with pytest.raises(SpecValidationError, match=r"^cpu: "):
        parse_quantity(bad, "cpu")


@pytest.mark.parametrize(("value", "text"), [(2, "2"), (0.5, "500m"), (1.25, "1250m"), ("4Gi", "4Gi"), (3.0, "3")])
def test_format_quantity(value: object, text: str) -> None:
    assert format_quantity(value, "x") == text  # type: ignore[arg-type]


def test_format_quantity_rejects_sub_milli() -> None:
    with pytest.raises(SpecValidationError):
        format_quantity(0.0001, "cpu")


def test_merge_mappings_and_deletion() -> None:
    base = {"a": {"b": 1, "c": 2}, "keep": True}
    assert deep_merge(base, {"a": {"b": 10, "c": None}, "new": 1}) == {"a": {"b": 10}, "keep": True, "new": 1}
    assert base == {"a": {"b": 1, "c": 2}, "keep": True}, "inputs are not modified"


def test_merge_worker_groups_by_group_name() -> None:
    base = {"workerGroupSpecs": [{"groupName": "cpu", "maxReplicas": 2, "rayStartParams": {"a": "1"}}]}
    merged = deep_merge(
        base, {"workerGroupSpecs": [{"groupName": "cpu", "maxReplicas": 5}, {"groupName": "gpu", "maxReplicas": 1}]}
    )
    assert merged["workerGroupSpecs"] == [
        {"groupName": "cpu", "maxReplicas": 5, "rayStartParams": {"a": "1"}},
        {"groupName": "gpu", "maxReplicas": 1},
    ]


def test_merge_containers_env_and_mounts_by_key() -> None:
    base = {
        "containers": [
            {
                "name": "ray-head",
                "image": "a",
                "env": [{"name": "X", "value": "1"}],
                "volumeMounts": [{"name": "logs", "mountPath": "/tmp/ray"}],
                "args": ["--one"],
            }
        ]
    }
    override = {
        "containers": [
            {
                "name": "ray-head",
                "env": [{"name": "X", "value": "2"}, {"name": "Y", "value": "3"}],
                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                "args": ["--two"],
            },
            {"name": "sidecar", "image": "busybox"},
        ]
    }
    merged = deep_merge(base, override)
    head, sidecar = merged["containers"]
    assert head["image"] == "a"
    assert head["env"] == [{"name": "X", "value": "2"}, {"name": "Y", "value": "3"}]
    assert [m["mountPath"] for m in head["volumeMounts"]] == ["/tmp/ray", "/data"]
    assert head["args"] == ["--two"], "unkeyed lists are replaced"
    assert sidecar == {"name": "sidecar", "image": "busybox"}


def test_tolerations_are_replaced() -> None:
    merged = deep_merge({"tolerations": [{"key": "a"}]}, {"tolerations": [{"key": "b"}]})
    assert merged == {"tolerations": [{"key": "b"}]}


def test_load_overrides_sources(tmp_path: object) -> None:
    assert load_overrides(None) == {}
    assert load_overrides({"a": 1}) == {"a": 1}
    assert load_overrides("a: 1\nb: [1, 2]\n") == {"a": 1, "b": [1, 2]}
    assert load_overrides("") == {}
    with pytest.raises(SpecValidationError, match="does not parse"):
        load_overrides("a: [\n")
