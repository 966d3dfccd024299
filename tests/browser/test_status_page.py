"""The status page of a running `demo`, loaded in a real headless Chromium: a flow renamed to
hostile markup shows as text and runs nothing, and a failing query shows as failing with the
correlation id a support ticket needs. The DOM and a screenshot go to build/test-artifacts."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from poller.scheduler import MAX_START_OFFSET
from tests.support.browser import PNG_SIGNATURE, Dom, artifact, dump_dom, screenshot
from tests.support.demo import DEMO_CLIENTS, Demo, demo_command
from tests.support.wait import wait_for

pytestmark = pytest.mark.e2e

TITLE = "genesyscloud-poller status"
# Markup that would change the title if the page ever let it run (script, event handler).
HOSTILE = (
    "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned by img'\">"
)
NAMES_EVERY = 60.0  # config/demo.yaml: names every 1m


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    """The demo on free ports, acme's first flow renamed to HOSTILE and globex's observation
    query forbidden (403), both seen in /status.json before the tests look."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENESYS_")}
    env.pop("POLLER_CONFIG", None)
    demo = Demo(demo_command(), env=env)
    try:
        demo.wait_started()

        def listed() -> bool | None:
            # The first read of the listings is the baseline the changes are counted from: a
            # rename before it ends would be part of it, never shown as a change.
            names = org(status(demo), "acme")["names"]
            return True if names and all(k["state"] == "ok" for k in names) else None

        wait_for(listed, timeout=MAX_START_OFFSET + 30, what="acme's first names refresh")
        flow = demo.org("acme")["flows"][0]
        demo.simulate("/simulator/names", "acme", {flow["id"]: HOSTILE})
        demo.simulate("/simulator/faults", "globex", {"forbidden": "observations"})

        last: dict[str, Any] = {}

        def shown() -> dict[str, Any] | None:
            answer = last["answer"] = status(demo)
            renamed = [c for k in org(answer, "acme")["names"] for c in k["changes"]]
            failing = query(answer, "globex", "flows_active")["state"] == "failing"
            return answer if failing and any(c["name"] == HOSTILE for c in renamed) else None

        try:
            # The next refresh comes NAMES_EVERY after the first (plus a loaded machine's delay).
            wait_for(shown, timeout=NAMES_EVERY + 30, what="the rename and the 403 in /status.json")
        except BaseException:
            print("last /status.json:", json.dumps(last.get("answer"), indent=1))
            raise
        yield demo
    finally:
        demo.stop()


def status(demo: Demo) -> dict[str, Any]:
    code, body = demo.get("/status.json")
    assert code == 200, body
    answer: dict[str, Any] = json.loads(body)
    return answer


def org(answer: dict[str, Any], name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [o for o in answer["orgs"] if o["name"] == name]
    assert len(found) == 1, name
    return found[0]


def query(answer: dict[str, Any], org_name: str, name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [q for q in org(answer, org_name)["queries"] if q["name"] == name]
    assert len(found) == 1, name
    return found[0]


def rows(dom: Dom) -> list[list[str]]:
    """Every table row's cells, as text."""
    return [[cell.text.strip() for cell in row.find_all("td")] for row in dom.find_all("tr")]


def test_hostile_flow_name_shows_as_text_and_runs_nothing(demo: Demo) -> None:
    """The renamed flow's markup is on the page as text: no script or img element, the title
    untouched (nothing ran), and the page's CSP forbids any script anyway."""
    source = dump_dom(demo.url + "/")
    path = artifact("status-page.html")
    path.write_text(source)
    print(f"status page DOM: {path}")
    dom = Dom(source)
    assert dom.title == TITLE
    assert dom.find_all("script") == []
    assert dom.find_all("img") == []
    assert HOSTILE in dom.text
    code, _ = demo.get("/")
    assert code == 200


def test_failing_query_shows_its_state_and_correlation_id(demo: Demo) -> None:
    """globex's flows_active row says failing with the 403, its code and the same correlation
    id /status.json gives; acme's rows say ok; every query of both orgs has a row."""
    # The query fails again every 15 s with a new id: the page shows the one current when it
    # was rendered, between these two reads.
    before = query(status(demo), "globex", "flows_active")["error"]["correlation_id"]
    dom = Dom(dump_dom(demo.url + "/"))
    after = query(status(demo), "globex", "flows_active")["error"]["correlation_id"]
    table = [
        r
        for r in rows(dom)
        if r
        and r[0] in {"flows_1h", "flows_counted", "outcomes_1h", "milestones_1h", "flows_active"}
    ]
    assert len(table) == 2 * 5
    acme, globex = table[:5], table[5:]
    assert [r[3] for r in acme] == ["ok"] * 5
    (active,) = [r for r in globex if r[0] == "flows_active"]
    assert active[3] == "failing"
    assert "HTTP 403" in active[8]
    assert "code missing.permissions" in active[8]
    assert any(f"correlation id {cid}" in active[8] for cid in (before, after)), active[8]


def test_status_page_screenshot(demo: Demo) -> None:
    """A 1280-wide screenshot of the status page lands in the artifacts as a PNG over 10 KB."""
    path = screenshot(demo.url + "/", artifact("status-page.png"), height=1800)
    print(f"status page screenshot: {path}")
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 10_000
    assert set(DEMO_CLIENTS) == {"acme", "globex"}
