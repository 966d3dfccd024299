"""The landing page of a running `demo`, loaded in a real headless Chromium."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest

from tests.support.browser import PNG_SIGNATURE, Dom, artifact, dump_dom, screenshot
from tests.support.demo import DEMO_CLIENTS, Demo, demo_command

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    """One `demo` on free ports for the module, with no GENESYS_* or POLLER_CONFIG inherited."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENESYS_")}
    env.pop("POLLER_CONFIG", None)
    demo = Demo(demo_command(), env=env)
    try:
        yield demo.wait_started()
    finally:
        demo.stop()


def test_landing_page_names_the_poller_and_its_orgs(demo: Demo) -> None:
    """The DOM Chromium ends with has the h1 'genesyscloud-poller' and both demo orgs."""
    source = dump_dom(demo.url + "/")
    path = artifact("landing.html")
    path.write_text(source)
    print(f"landing DOM: {path}")
    dom = Dom(source)
    assert [h.text.strip() for h in dom.find_all("h1")] == ["genesyscloud-poller"]
    for org in DEMO_CLIENTS:
        assert re.search(rf"\b{org}\b", dom.text), f"{org} is not on the page: {dom.text}"


def test_landing_page_screenshot(demo: Demo) -> None:
    """A 1280-wide screenshot of the landing page is a PNG of more than 1 KB in the artifacts."""
    path = screenshot(demo.url + "/", artifact("landing.png"))
    print(f"landing screenshot: {path}")
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 1024
