"""How `make test` shares the suite between its xdist workers (tests/support/parallel.py)."""

from __future__ import annotations

from tests.support.parallel import scope_of


def test_a_module_is_one_unit_of_work() -> None:
    assert scope_of("tests/k8s/test_real_pods.py::test_two_clusters") == "tests/k8s/test_real_pods.py"
    assert scope_of("tests/unit/x/test_a.py::test_b[p-1]") == "tests/unit/x/test_a.py"


def test_the_deploy_tier_is_one_unit_of_work() -> None:
    # One Airflow deployment per worker that runs any of it: all of it goes to one worker.
    assert scope_of("tests/deploy/test_restarts.py::test_x") == "tests/deploy/"
    assert scope_of("tests/deploy/test_ui_browser.py::test_y") == "tests/deploy/"
