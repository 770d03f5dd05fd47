"""What the Ray-job benchmarks share: short jobs of chosen lengths, and Ray's own client polling every second."""

from __future__ import annotations

import random
import time

# Ray's documented way to wait for a job: JobSubmissionClient, its status read every second.
CLIENT_POLL = 1.0


def sleeper(seconds: float) -> str:
    """The entrypoint of a job that runs ``seconds`` and succeeds."""
    return f"python -c 'import time; time.sleep({seconds:.3f})'"


def random_lengths(count: int, seed: int) -> list[float]:
    """
    Job lengths between 0.5 and 1.5 s: a job's end then falls at a uniformly random phase of a 1 s
    poll. Both clients run the same lengths, so their poll phases are randomized the same way.
    """
    draw = random.Random(seed)
    return [0.5 + draw.random() for _ in range(count)]


def submit_and_poll(url: str, submission_id: str, entrypoint: str) -> float:
    """Submit a job with ``JobSubmissionClient`` and poll it every second; return when (Unix time) it was seen ended."""
    from ray.job_submission import JobSubmissionClient

    client = JobSubmissionClient(url)
    client.submit_job(entrypoint=entrypoint, submission_id=submission_id)
    while not client.get_job_status(submission_id).is_terminal():
        time.sleep(CLIENT_POLL)
    return time.time()


def ended(url: str, submission_id: str) -> tuple[float, float]:
    """Ray's ``start_time`` and ``end_time`` (Unix seconds) of a job that succeeded."""
    from ray.job_submission import JobSubmissionClient

    info = JobSubmissionClient(url).get_job_info(submission_id)
    assert info.status.value == "SUCCEEDED", info
    assert info.start_time is not None, info
    assert info.end_time is not None, info
    return info.start_time / 1000.0, info.end_time / 1000.0
