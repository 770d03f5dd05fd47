"""
The Airflow UI of the real deployment in a real browser (Debian's chromium, driven by selenium):
what a user sees of the provider. Assertions are on the DOM; screenshots go to the test's temp dir.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from airflow_provider_kuberay.get_provider_info import get_provider_info
from tests.deploy.browser import chromium
from tests.deploy.deployment import AirflowDeployment
from tests.deploy.runs import EXAMPLE_DAG, EXAMPLE_TASK, FinishedRun

pytestmark = [pytest.mark.deploy, pytest.mark.ray]

UI_TIMEOUT = 90.0


class AirflowUi:
    """A logged-in browser on the deployment's UI, with the few gestures these tests need."""

    def __init__(self, driver: Any, base_url: str, screenshots: Path) -> None:
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver = driver
        self.base_url = base_url
        self.screenshots = screenshots
        self.wait = WebDriverWait(driver, UI_TIMEOUT)

    def log_in(self, username: str, password: str) -> None:
        """Through the simple auth manager's sign-in form, as a user does."""
        from selenium.webdriver.common.by import By

        self.driver.get(f"{self.base_url}/auth/login?next=/")
        self.wait.until(lambda driver: driver.find_elements(By.NAME, "username"))
        self.driver.find_element(By.NAME, "username").send_keys(username)
        self.driver.find_element(By.NAME, "password").send_keys(password)
        self.driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        self.wait.until(lambda driver: "/auth/login" not in driver.current_url)

    def open(self, path: str) -> None:
        self.driver.get(f"{self.base_url}{path}")

    def element(self, xpath: str) -> Any:
        from selenium.webdriver.common.by import By

        # Displayed and enabled, not only present: a dialog's inputs exist before its opening
        # animation makes them interactable (a busy machine showed "element not interactable").
        def ready(driver: Any) -> Any:
            return next(
                (el for el in driver.find_elements(By.XPATH, xpath) if el.is_displayed() and el.is_enabled()), None
            )

        return self.wait.until(ready, f"{xpath} displayed and enabled")

    def wait_for_text(self, xpath: str, text: str) -> Any:
        """The element at ``xpath`` once its text contains ``text``."""
        from selenium.webdriver.common.by import By

        def found(driver: Any) -> Any:
            return next((el for el in driver.find_elements(By.XPATH, xpath) if text in el.text), None)

        return self.wait.until(found, f"{text!r} in {xpath}")

    def screenshot(self, name: str) -> Path:
        path = self.screenshots / f"{name}.png"
        assert self.driver.save_screenshot(str(path)), f"no screenshot written to {path}"
        return path


@pytest.fixture
def ui(deployment: AirflowDeployment, tmp_path: Path) -> Iterator[AirflowUi]:
    with chromium(tmp_path / "chromium-profile") as driver:
        browser = AirflowUi(driver, deployment.base_url, tmp_path)
        browser.log_in(deployment.rest.username, deployment.rest.password)
        try:
            yield browser
        except BaseException:
            browser.screenshot("failure")
            raise


def _connection_type(conn_type: str) -> dict[str, Any]:
    return next(c for c in get_provider_info()["connection-types"] if c["connection-type"] == conn_type)


@pytest.mark.parametrize("conn_type", ["ray_dashboard", "kuberay"])
def test_add_connection_form_shows_the_providers_fields(ui: AirflowUi, conn_type: str) -> None:
    declared = _connection_type(conn_type)
    ui.open("/connections")
    ui.element("//button[contains(., 'Add Connection')]").click()
    dialog = "//*[@role='dialog']"
    type_box = ui.element(f"{dialog}//input[@role='combobox']")
    type_box.send_keys(declared["hook-name"])
    ui.element(f"//*[@role='option' and normalize-space(.)={_xpath_literal(declared['hook-name'])}]").click()
    # The standard fields open first: the provider's relabelling, placeholders and hidden fields.
    standard = ui.wait_for_text(dialog, "Standard Fields")
    ui.screenshot(f"add-connection-{conn_type}-standard")
    behaviour = declared["ui-field-behaviour"]
    labels = {label.text.strip().rstrip("*").strip() for label in standard.find_elements("xpath", ".//label")}
    for relabelled in behaviour["relabeling"].values():
        assert relabelled in labels, f"relabelled field {relabelled!r} is not on the form: {labels}"
    for hidden in behaviour["hidden-fields"]:
        assert hidden.capitalize() not in labels, f"hidden field {hidden!r} is on the form: {labels}"
    for field, placeholder in behaviour["placeholders"].items():
        assert standard.find_elements("xpath", f".//*[@placeholder={_xpath_literal(placeholder)}]"), (
            f"no input with the {field} placeholder {placeholder!r}"
        )
    # Then the provider's own fields (conn-fields), each with its label and description.
    ui.element(f"{dialog}//button[contains(., 'Extra Fields')]").click()
    extra = ui.wait_for_text(dialog, next(iter(declared["conn-fields"].values()))["label"])
    ui.screenshot(f"add-connection-{conn_type}-extra")
    for name, field in declared["conn-fields"].items():
        for shown in (field["label"], field["description"]):
            assert shown in extra.text, f"{conn_type} field {name!r}: {shown!r} is not on the form:\n{extra.text}"


def test_finished_task_page_shows_the_job_output_in_its_log_and_the_ray_job_link(
    ui: AirflowUi, deployment: AirflowDeployment, example_run: FinishedRun
) -> None:
    assert example_run.state == "success", example_run.task_states
    submission_id = deployment.rest.xcom(EXAMPLE_DAG, example_run.run_id, EXAMPLE_TASK, "return_value")
    dashboard_url = deployment.rest.xcom(EXAMPLE_DAG, example_run.run_id, EXAMPLE_TASK, "dashboard_url")
    ui.open(f"/dags/{EXAMPLE_DAG}/runs/{quote(example_run.run_id, safe='')}/tasks/{EXAMPLE_TASK}")
    # The job's own output, forwarded by the trigger while the task was deferred.
    ui.wait_for_text("//body", "total letters: 44")
    ui.wait_for_text("//body", f"run: {example_run.run_id}")
    ui.screenshot("task-log")
    # Airflow 3.3 lists a task's extra links on its Details tab.
    ui.element("//a[@title='Details']").click()
    ui.wait_for_text("//body", "Extra Links")
    link = ui.element("//a[normalize-space(.)='Ray Job']")
    ui.screenshot("task-details")
    assert link.get_attribute("href") == f"{dashboard_url}/#/jobs/{submission_id}"


def _xpath_literal(text: str) -> str:
    if "'" not in text:
        return f"'{text}'"
    return "concat(" + ', "\'", '.join(f"'{part}'" for part in text.split("'")) + ")"
