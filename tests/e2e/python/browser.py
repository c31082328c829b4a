"""Headless Chromium through Selenium WebDriver, offline: Debian's /usr/bin/chromium and
/usr/bin/chromedriver (installed by .ci/install-deps); Selenium never downloads a browser or
a driver (SE_OFFLINE)."""

import os
import tempfile

os.environ["SE_OFFLINE"] = "true"

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402

CHROMIUM = os.environ.get("SHIMMY_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("SHIMMY_CHROMEDRIVER", "/usr/bin/chromedriver")


def start(width=1200, height=760):
    """A fresh headless Chromium (its own profile folder, no network beyond loopback use)."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.path.exists(path):
            raise SystemExit(f"{path} is missing: run .ci/install-deps (Debian packages chromium, chromium-driver)")
    profile = tempfile.mkdtemp(prefix="shimmy-chromium-")
    options = Options()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def color_scheme(driver, scheme):
    """Emulates prefers-color-scheme: light or dark."""
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia",
                           {"features": [{"name": "prefers-color-scheme", "value": scheme}]})
