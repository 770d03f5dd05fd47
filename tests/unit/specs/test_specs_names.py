"""Deterministic names: stable per task instance, distinct across runs, valid for KubeRay."""

from __future__ import annotations

import re

import pytest

from airflow_provider_kuberay.specs import MAX_NAME_LENGTH, SpecValidationError, resource_name, validate_name

RUN = "scheduled__2026-01-01T00:00:00+00:00"


def test_same_task_instance_same_name() -> None:
    assert resource_name("etl", "train", RUN, 2) == resource_name("etl", "train", RUN, 2)


@pytest.mark.parametrize(
    "other",
    [("etl", "train", "manual__x", 2), ("etl", "train", RUN, 3), ("etl", "train", RUN, -1), ("etl2", "train", RUN, 2)],
)
def test_any_difference_changes_the_name(other: tuple[str, str, str, int]) -> None:
    assert resource_name(*other) != resource_name("etl", "train", RUN, 2)


@pytest.mark.parametrize("kind", sorted(MAX_NAME_LENGTH))
@pytest.mark.parametrize(
    ("dag_id", "task_id"),
    [
        ("My_DAG.with.Dots", "Task_Group.Train__Model"),
        ("9starts_with_digit", "x"),
        ("___", "___"),
        ("a" * 300, "b" * 300),
        ("ünïcødé", "タスク"),
    ],
)
def test_names_are_valid_and_short_enough(kind: str, dag_id: str, task_id: str) -> None:
    name = resource_name(dag_id, task_id, RUN, kind=kind)
    assert len(name) <= MAX_NAME_LENGTH[kind]
    assert re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", name)
    assert validate_name(name, kind) == name


def test_kuberay_limits() -> None:
    # ray-operator/controllers/ray/utils/constant.go at v1.7.0.
    assert MAX_NAME_LENGTH == {"RayCluster": 53, "RayJob": 47, "RayService": 47}


def test_readable_part_and_prefix() -> None:
    name = resource_name("nightly", "score", RUN, prefix="ray")
    assert name.startswith("ray-nightly-score-")


@pytest.mark.parametrize("bad", ["", "Upper", "has_underscore", "-dash", "dash-", "1digit", "a" * 48])
def test_invalid_names_rejected(bad: str) -> None:
    with pytest.raises(SpecValidationError, match=r"^metadata\.name: "):
        validate_name(bad, "RayJob")
