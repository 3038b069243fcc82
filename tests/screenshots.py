"""Pages in a real headless Chromium (selenium, Debian's chromium and chromium-driver), as a desktop and
as a phone sees them.

A phone is emulated with the browser's own device metrics (a headless window cannot be narrower than
500 px): 390 CSS pixels wide, a mobile viewport. A shot shows the whole page at that width.
`INBOX_DAEMON_UPDATE_DOCS=1` copies the shots into docs/screenshots/.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"
WIDTHS = (1280, 390)
PHONE_BELOW = 600

FACTS = """
const wide = [...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1);
return {scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
        svg: [...document.querySelectorAll("svg")].map(s => s.getBoundingClientRect().right),
        wide: wide.map(e => e.tagName + "." + e.className).slice(0, 10),
        cards: [...document.querySelectorAll("table.cards tr")].map(r => getComputedStyle(r).display),
        pre: [...document.querySelectorAll("pre")].length,
        text: document.body.innerText};
"""


class Browser:
    """One headless Chromium for a test module."""

    def __init__(self):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        binary = shutil.which("chromium") or shutil.which("chromium-browser")
        driver = shutil.which("chromedriver")
        if binary is None or driver is None:
            raise AssertionError("chromium and chromium-driver are needed: make test installs them")
        options = webdriver.ChromeOptions()
        options.binary_location = binary
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--hide-scrollbars", "--force-device-scale-factor=1", "--window-size=1280,900"):
            options.add_argument(flag)
        self.driver = webdriver.Chrome(service=Service(driver), options=options)

    def close(self) -> None:
        self.driver.quit()

    def open(self, page: Path, width: int, height: int = 900) -> None:
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < PHONE_BELOW})
        self.driver.get(page.as_uri())

    def facts(self, page: Path, width: int) -> dict:
        """Layout facts at `width`, from the browser itself: page width, chart edges, what overflows."""
        self.open(page, width)
        return self.driver.execute_script(FACTS)

    def shot(self, page: Path, target: Path, width: int):
        """The whole page `width` CSS pixels wide, as a PIL image (also saved to `target`)."""
        from PIL import Image

        self.open(page, width)
        height = self.driver.execute_script(  # where the page ends, not the window
            "const b = document.body; return Math.ceil(b.getBoundingClientRect().bottom"
            " + parseFloat(getComputedStyle(b).marginBottom)) + 8")
        self.open(page, width, height)
        self.driver.save_screenshot(str(target))
        with Image.open(target) as image:
            return image.convert("RGB")


def keep(shot: Path, name: str) -> None:
    if os.environ.get("INBOX_DAEMON_UPDATE_DOCS"):
        (DOCS / "screenshots").mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, DOCS / "screenshots" / name)
