"""The poller's own metrics: stock prometheus-client metrics, no `_created` series, process and
platform metrics, a rendering reused for at most RENDER_MAX_AGE, and the README's reference of
them kept to the declared table."""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Any

import prometheus_client.metrics
import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from poller.config import parse_config
from poller.config.model import Credentials, Secret
from poller.daemon import Daemon
from poller.selfmetrics import RENDER_MAX_AGE, TABLE, P, SelfMetrics
from tests.support.clock import FakeClock
from tests.support.stack import config_text

README = Path(__file__).parents[2] / "README.md"


def families(text: bytes) -> dict[str, str]:
    """Family name -> type, through prometheus-client's own parser."""
    return {f.name: f.type for f in text_string_to_metric_families(text.decode())}


@pytest.fixture
def created_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """prometheus-client's process-wide `_created` switch on, as in a process that never turned
    it off (no Daemon built yet); put back as it was afterwards."""
    monkeypatch.setattr(prometheus_client.metrics, "_use_created", True)


def stock_counter_text() -> bytes:
    """A stock Counter in a registry of its own, rendered: shows the process-wide switch."""
    registry = CollectorRegistry()
    Counter("probe", "A probe.", registry=registry).inc()
    return generate_latest(registry)


def test_no_created_series() -> None:
    """Counters and the histogram expose no `_created` samples (as Go exporters in 0.0.4) once
    the switch is off, as the daemon turns it (tests/conftest.py does too)."""
    metrics = SelfMetrics(process=False)
    metrics.add_query("flows", 60)
    metrics.polls.labels("flows").inc()
    metrics.api_request_duration.labels("aggregates").observe(0.2)
    text = metrics.render().decode()
    assert "_created" not in text
    assert 'genesyscloud_poller_polls_total{query="flows"} 1.0\n' in text


def test_process_and_platform_metrics_come_from_the_stock_collectors() -> None:
    """process_* and python_info are there with their stock names and types."""
    kinds = families(SelfMetrics().render())
    assert kinds["process_resident_memory_bytes"] == "gauge"
    assert kinds["process_cpu_seconds"] == "counter"
    assert kinds["process_open_fds"] == "gauge"
    assert kinds["python_info"] == "gauge"


def test_without_process_metrics_only_the_pollers_own() -> None:
    """process=False leaves out process_* and python_info (for tests that compare exact text)."""
    names = set(families(SelfMetrics(process=False).render()))
    assert names
    assert all(name.startswith("genesyscloud_poller_") for name in names)


def test_a_rendering_is_reused_until_it_is_render_max_age_old() -> None:
    """A change shows in the first rendering RENDER_MAX_AGE after the last one, not before."""
    clock = FakeClock(100.0)
    metrics = SelfMetrics(process=False, monotonic=clock)
    metrics.add_query("flows", 60)
    first = metrics.render()
    assert b'genesyscloud_poller_query_up{query="flows"} 0.0' in first
    metrics.query_up.labels("flows").set(1)
    clock.now += RENDER_MAX_AGE - 0.01
    assert metrics.render() == first
    clock.now += 0.01
    assert b'genesyscloud_poller_query_up{query="flows"} 1.0' in metrics.render()


def test_zero_max_age_renders_every_time() -> None:
    """With render_max_age=0 every change shows at once."""
    metrics = SelfMetrics(process=False, render_max_age=0)
    metrics.add_query("flows", 60)
    metrics.query_series.labels("flows").set(42)
    assert b'genesyscloud_poller_query_series{query="flows"} 42.0' in metrics.render()


def test_gzip_form_is_the_same_text() -> None:
    """render_gzip() is one gzip member holding exactly render()'s text."""
    metrics = SelfMetrics(process=False)
    metrics.add_query("flows", 60)
    assert gzip.decompress(metrics.render_gzip()) == metrics.render()


def test_remove_query_drops_its_series() -> None:
    """A query removed by a reload leaves no series behind in any per-query family."""
    metrics = SelfMetrics(process=False, render_max_age=0)
    metrics.add_query("flows", 60)
    metrics.add_query("active", 15)
    metrics.remove_query("flows")
    text = metrics.render().decode()
    assert 'query="flows"' not in text
    assert 'genesyscloud_poller_query_interval_seconds{query="active"} 15.0' in text


def test_settling_series_is_read_at_each_rendering_and_removed_with_its_query() -> None:
    """query_settling exists only for a query added with a settling reading, shows that reading
    at every rendering, and goes with remove_query or when the query stops being counter-mode;
    the budget series go with their org."""
    metrics = SelfMetrics(process=False, render_max_age=0, org_label=True)
    acme = metrics.for_org("acme")
    now = [True]
    acme.add_query("counted", 30, lambda: now[0])
    acme.add_query("active", 15)
    acme.api_budget.labels().set(120)
    acme.api_budget_places.labels().inc(3)
    settling = 'genesyscloud_poller_query_settling{org="acme",query="counted"}'
    text = metrics.render().decode()
    assert f"{settling} 1.0\n" in text
    assert 'query_settling{org="acme",query="active"}' not in text
    assert 'genesyscloud_poller_api_budget_requests_per_minute{org="acme"} 120.0\n' in text
    assert 'genesyscloud_poller_api_budget_places_taken_total{org="acme"} 3.0\n' in text
    now[0] = False
    assert f"{settling} 0.0\n" in metrics.render().decode()
    acme.show_settling("counted", None)
    assert settling not in metrics.render().decode()
    acme.show_settling("counted", lambda: True)
    acme.remove_query("counted")
    assert settling not in metrics.render().decode()
    metrics.remove_org("acme")
    assert 'org="acme"' not in metrics.render().decode()


def test_series_limit_is_per_org_and_query_and_follows_a_reload() -> None:
    """query_series_limit carries the org and the query, reads the limit add_query was given,
    the new one after show_settings (a reload), and goes with remove_query."""
    metrics = SelfMetrics(process=False, render_max_age=0, org_label=True)
    acme, globex = metrics.for_org("acme"), metrics.for_org("globex")
    acme.add_query("flows", 60, series_limit=500)
    globex.add_query("flows", 60)
    limit = "genesyscloud_poller_query_series_limit"
    text = metrics.render().decode()
    assert f'{limit}{{org="acme",query="flows"}} 500.0\n' in text
    assert f'{limit}{{org="globex",query="flows"}} 20000.0\n' in text
    acme.show_settings("flows", 30, 750)
    text = metrics.render().decode()
    assert f'{limit}{{org="acme",query="flows"}} 750.0\n' in text
    assert 'genesyscloud_poller_query_interval_seconds{org="acme",query="flows"} 30.0\n' in text
    acme.remove_query("flows")
    assert f'{limit}{{org="acme"' not in metrics.render().decode()


def test_org_views_share_one_registry_with_org_first() -> None:
    """With org_label, each org's view records into the same families, its org label first."""
    metrics = SelfMetrics(process=False, org_label=True)
    acme, globex = metrics.for_org("acme"), metrics.for_org("globex")
    acme.add_query("flows", 60)
    acme.polls.labels("flows").inc()
    globex.token_expiry.labels().set(5)
    globex.api_paused_until.labels("login").set(7)
    metrics.org_info.labels("acme", "mypurecloud.ie").set(1)
    text = metrics.render().decode()
    assert 'genesyscloud_poller_polls_total{org="acme",query="flows"} 1.0\n' in text
    assert 'genesyscloud_poller_oauth_token_expiry_timestamp_seconds{org="globex"} 5.0\n' in text
    assert 'api_paused_until_timestamp_seconds{host="login",org="globex"} 7.0\n' in text
    assert 'genesyscloud_poller_org_info{genesys_region="mypurecloud.ie",org="acme"} 1.0\n' in text


def test_remove_org_forgets_that_org_alone() -> None:
    """remove_org drops every series of the org, and leaves the other org's untouched."""
    metrics = SelfMetrics(process=False, org_label=True)
    for org in ("acme", "globex"):
        view = metrics.for_org(org)
        view.add_query("flows", 60)
        view.token_refreshes.labels().inc()
        view.names_up.labels("flows").set(1)
        metrics.org_info.labels(org, "mypurecloud.ie").set(1)
    metrics.remove_org("acme")
    text = metrics.render().decode()
    assert 'org="acme"' not in text
    assert 'genesyscloud_poller_query_up{org="globex",query="flows"} 0.0\n' in text
    assert 'genesyscloud_poller_oauth_token_refreshes_total{org="globex"} 1.0\n' in text
    assert 'genesyscloud_poller_names_up{kind="flows",org="globex"} 1.0\n' in text


def test_without_org_label_no_series_has_org() -> None:
    """A config without orgs: no org label anywhere, and for_org gives the same view."""
    metrics = SelfMetrics(process=False)
    view = metrics.for_org("")
    assert view is metrics
    view.add_query("flows", 60)
    view.token_expiry.labels().set(5)
    text = metrics.render().decode()
    assert "org=" not in text
    assert "genesyscloud_poller_oauth_token_expiry_timestamp_seconds 5.0\n" in text


@pytest.mark.usefixtures("created_on")
async def test_daemon_start_turns_created_series_off_process_wide() -> None:
    """Building a Daemon turns prometheus-client's `_created` series off for the process."""
    query = "  - {name: flows, type: aggregate, every: 60s, window: 1h, metrics: [nFlow]}\n"
    url = "http://127.0.0.1:9"
    env = {"GENESYS_API_BASE_URL": url, "GENESYS_LOGIN_BASE_URL": url}
    config = parse_config(config_text(query), source="created.yaml", env=env)
    daemon = Daemon(config, Credentials("id", Secret("secret")))
    try:
        assert b"probe_created" not in stock_counter_text()
        daemon.metrics.polls.labels("flows").inc()
        text = daemon.metrics.render()
        assert b'genesyscloud_poller_polls_total{query="flows"} 1.0\n' in text
        assert b"_created" not in text
    finally:
        await daemon.stop()


def test_add_query_makes_every_per_query_series_at_zero() -> None:
    """add_query makes each per-query family's series, polls_skipped once per reason, at 0
    but for the configured interval and the series limit (max_series' default)."""
    metrics = SelfMetrics(process=False)
    metrics.add_query("flows", 60)
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(metrics.render().decode())
        for s in f.samples
        if s.labels.get("query") == "flows"
    }
    q = (("query", "flows"),)
    assert samples == {
        (P + "query_up", q): 0.0,
        (P + "query_last_success_timestamp_seconds", q): 0.0,
        (P + "query_duration_seconds", q): 0.0,
        (P + "query_series", q): 0.0,
        (P + "query_series_limit", q): 20000.0,
        (P + "query_interval_seconds", q): 60.0,
        (P + "polls_total", q): 0.0,
        (P + "poll_failures_total", q): 0.0,
        (P + "polls_skipped_total", (*q, ("reason", "overrun"))): 0.0,
        (P + "polls_skipped_total", (*q, ("reason", "paused"))): 0.0,
        (P + "push_raised_total", q): 0.0,
        (P + "query_pushed", q): 0.0,
    }


def readme_table() -> dict[str, tuple[str, tuple[str, ...]]]:
    """The README's table of the poller's own metrics: exposed name -> (type, label names)."""
    section = README.read_text().split("The poller's own metrics (`genesyscloud_poller_`):", 1)[1]
    rows = re.findall(r"^\| `(\w+)` \| (\w+) \|([\w, ]*)\|", section.split("\n\n")[1], re.M)
    return {
        name: (kind, tuple(label.strip() for label in labels.split(",") if label.strip()))
        for name, kind, labels in rows
    }


def test_readme_lists_every_self_metric_with_its_type_and_labels() -> None:
    """README's self-metric reference names exactly the declared families, with their types
    and labels (without `org`), and says which carry `org` under `orgs:`."""
    kinds: dict[type[Any], tuple[str, str]] = {
        Gauge: ("gauge", ""),
        Counter: ("counter", "_total"),
        Histogram: ("histogram", ""),
    }
    declared = {
        row.name.removeprefix(P) + kinds[row.kind][1]: (kinds[row.kind][0], row.labels)
        for row in TABLE
    }
    documented = readme_table()
    assert documented == declared
    # The README says the families from query_up to oauth_token_expiry_timestamp_seconds in its
    # table carry `org` with `orgs:`: exactly the per-org ones.
    names = list(documented)
    span = names[names.index("query_up") : names.index("oauth_token_expiry_timestamp_seconds") + 1]
    per_org = {name for name, row in zip(declared, TABLE, strict=True) if row.per_org}
    assert set(span) == per_org
