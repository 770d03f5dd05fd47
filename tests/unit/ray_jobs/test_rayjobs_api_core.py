"""Request building and error mapping of the Jobs API, without I/O."""

from __future__ import annotations

import pytest

from airflow_provider_kuberay.exceptions import DuplicateSubmissionError, RayDashboardError, RayJobNotFoundError
from airflow_provider_kuberay.hooks import ray_jobs_api as api
from airflow_provider_kuberay.hooks.retry import RetryPolicy, is_transient_status


def test_submit_body_carries_only_what_was_given() -> None:
    request = api.submit_job(entrypoint="python a.py", submission_id="s1", entrypoint_num_cpus=0.5, metadata={"a": "b"})
    assert request.method == "POST"
    assert request.path == "/api/jobs/"
    assert request.json == {
        "entrypoint": "python a.py",
        "submission_id": "s1",
        "entrypoint_num_cpus": 0.5,
        "metadata": {"a": "b"},
    }


def test_ids_are_escaped_in_paths() -> None:
    assert api.job_info("a/b c").path == "/api/jobs/a%2Fb%20c"
    assert api.job_logs_tail_path("x") == "/api/jobs/x/logs/tail"


def test_not_found_maps_to_its_own_error() -> None:
    with pytest.raises(RayJobNotFoundError, match="Job nope does not exist"):
        api.raise_for_answer(api.job_info("nope"), 404, "Job nope does not exist")


@pytest.mark.parametrize("status", [400, 500])
def test_duplicate_submission_is_recognised_in_old_and_new_ray(status: int) -> None:
    traceback = "Traceback (most recent call last):\n  ...\nValueError: Job with submission_id s1 already exists."
    with pytest.raises(DuplicateSubmissionError, match="already exists"):
        api.raise_for_answer(api.submit_job(entrypoint="x", submission_id="s1"), status, traceback)


def test_other_errors_carry_the_last_line_of_rays_answer() -> None:
    with pytest.raises(RayDashboardError, match=r"HTTP 400 .*TypeError: bad field") as info:
        api.raise_for_answer(
            api.submit_job(entrypoint="x", submission_id="s"), 400, "Traceback\n  ...\nTypeError: bad field"
        )
    assert info.value.http_status == 400


def test_success_answers_pass() -> None:
    api.raise_for_answer(api.list_jobs(), 200, "[]")


def test_backoff_is_jittered_and_bounded() -> None:
    policy = RetryPolicy(attempts=6, base_delay=1.0, max_delay=4.0)
    for attempt in range(1, 7):
        delays = {policy.backoff(attempt) for _ in range(50)}
        assert all(0 <= d <= min(4.0, 2 ** (attempt - 1)) for d in delays)
        assert len(delays) > 1  # jittered
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)


@pytest.mark.parametrize(("status", "transient"), [(429, True), (500, True), (503, True), (404, False), (400, False)])
def test_transient_statuses(status: int, transient: bool) -> None:
    assert is_transient_status(status) is transient
