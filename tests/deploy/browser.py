"""
Debian's headless ``chromium`` driven by ``chromium-driver`` through selenium, for the deploy tier's
UI checks. Nothing is downloaded: both binaries come from Debian, and the browser resolves no name
but loopback, so it cannot reach anything off this machine.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser")
DRIVER_CANDIDATES = ("chromedriver", "chromium-driver")
_FLAGS = (
    "--headless=new",
    "--no-sandbox",  # we are root in a container
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--window-size=1440,1000",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-domain-reliability",
    "--disable-sync",
    "--disable-breakpad",
    "--no-pings",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
)


class BrowserUnavailable(RuntimeError):
    """The machine lacks Debian's chromium or chromium-driver (the message says which)."""


def _which(candidates: tuple[str, ...], package: str) -> str:
    for name in candidates:
        found = shutil.which(name)
        if found:
            return found
    raise BrowserUnavailable(f"none of {candidates} on PATH: install Debian's `{package}` package (`.ci/run` does)")


@contextmanager
def chromium(profile_dir: Path) -> Iterator[Any]:
    """A selenium WebDriver on the system chromium; quit (browser and driver stopped) on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = _which(CHROMIUM_CANDIDATES, "chromium")
    for flag in _FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile_dir}")
    service = Service(executable_path=_which(DRIVER_CANDIDATES, "chromium-driver"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()
