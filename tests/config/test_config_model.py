"""What load_config hands the daemon: the frozen model, its defaults, warnings, the shipped
example configs, and how file-level failures and positions are reported."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from poller import config as config_module
from poller.config import load_config, parse_config
from poller.config.model import NamesSettings, View, Window
from poller.errors import ConfigError
from tests.support.config import query_named

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"

# Written out, not built: tests below edit this text and name its byte offsets and lines.
MINIMAL = """\
genesys:
  region: mypurecloud.ie
queries:
  - name: flows
    type: aggregate
    every: 60s
    metrics: [nFlow]
"""


def test_defaults_fill_what_the_file_leaves_out() -> None:
    """A minimal file gets the documented defaults for every optional setting."""
    config = parse_config(MINIMAL, env={})
    g = config.genesys
    assert (g.requests_per_minute, g.timeout, g.strict_names) == (300, 30.0, True)
    assert g.max_response_bytes == 50 * 1024 * 1024
    assert (config.server.host, config.server.port) == ("0.0.0.0", 9864)
    q = config.queries[0]
    assert q.window == Window(today=False, seconds=3600.0)
    assert (q.time_zone, q.delay, q.group_by, q.filter, q.views) == ("UTC", 0.0, (), None, ())
    assert q.stale_after_seconds == 600.0
    assert config.source == "<config>"
    assert config.warnings == ()


def test_full_fixture_builds_the_model_field_by_field() -> None:
    """Every option in full.ok.yaml lands in the matching model field, filter kept verbatim."""
    config = load_config(FIXTURES / "full.ok.yaml", env={})
    g = config.genesys
    assert (g.region, g.requests_per_minute, g.timeout) == ("mypurecloud.de", 120, 90.0)
    assert g.max_response_bytes == 1048576
    assert (config.server.host, config.server.port) == ("::1", 9100)
    today = query_named(config, "flows_today")
    assert today.window == Window(today=True)
    assert (today.time_zone, today.delay, today.stale_after) == ("America/New_York", 120.0, 300.0)
    assert today.group_by == ("flowId", "flowType", "mediaType")
    assert today.views == (
        View(name="tFlowUnder30s", target="tFlow", gte=None, lt=30000),
        View(name="tFlow30to60s", target="tFlow", gte=30000, lt=60000),
    )
    assert today.filter == {
        "type": "and",
        "clauses": [
            {
                "type": "or",
                "predicates": [
                    {"dimension": "flowId", "value": "5b9c0b7e-6d8e-4b2e-9a43-1f0c3c1a0001"},
                    {"dimension": "flowId", "value": "5b9c0b7e-6d8e-4b2e-9a43-1f0c3c1a0002"},
                ],
            }
        ],
        "predicates": [
            {
                "type": "dimension",
                "dimension": "mediaType",
                "operator": "matches",
                "value": "voice",
            },
            {"dimension": "canonicalExternalContactId", "operator": "notExists"},
            {"dimension": "routingPriority", "range": {"gte": 1, "lt": 5.5}},
        ],
    }
    assert query_named(config, "flows_15m").window == Window(today=False, seconds=900.0)
    assert query_named(config, "flows_15m").every == 90.0
    active = query_named(config, "flows_active")
    assert (active.type, active.metrics, active.stale_after_seconds, active.details) == (
        "observation",
        ("oFlow",),
        15.0,
        True,
    )


def test_model_is_frozen() -> None:
    """Assigning to any part of the loaded config raises, so nothing changes it behind a reload."""
    config = parse_config(MINIMAL, env={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.genesys.region = "mypurecloud.com"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.queries[0].every = 1.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.queries = ()  # type: ignore[misc]
    assert isinstance(config.queries, tuple)
    assert isinstance(config.queries[0].metrics, tuple)


def test_strict_names_false_turns_unknown_names_into_warnings() -> None:
    """With strict_names: false the config loads and the same text appears as a warning."""
    lenient = MINIMAL.replace(
        "  region: mypurecloud.ie\n", "  region: mypurecloud.ie\n  strict_names: false\n"
    )
    config = parse_config(lenient.replace("[nFlow]", "[nFlows]"), env={})
    assert config.genesys.strict_names is False
    assert config.warnings == (
        "queries[0].metrics[0]: unknown flow aggregate metric 'nFlows' (did you mean 'nFlow'?)",
    )
    assert config.queries[0].metrics == ("nFlows",)
    with pytest.raises(ConfigError) as caught:
        parse_config(MINIMAL.replace("[nFlow]", "[nFlows]"), env={})
    assert caught.value.problems == list(config.warnings)


def test_error_text_prefixes_file_and_line() -> None:
    """str(ConfigError) shows file:line: problem, while .problems stays free of both."""
    path = FIXTURES / "unknown_metric.bad.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    problem = (
        "queries[1].metrics[0]: unknown flow aggregate metric 'nFlows' (did you mean 'nFlow'?)"
    )
    assert caught.value.problems == [problem]
    assert str(caught.value) == f"{path}:14: {problem}"


def test_problems_come_in_file_order_with_their_lines() -> None:
    """Several problems are all reported, sorted by line, each with its own line number."""
    text = (
        "genesys:\n"  # 1
        "  region: nowhere\n"  # 2
        "queries:\n"  # 3
        "  - name: q\n"  # 4
        "    metrics: [nFlows]\n"  # 5
        "    type: aggregate\n"  # 6
        "    every: 5\n"  # 7
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="p.yaml", env={})
    assert str(caught.value).splitlines() == [
        "p.yaml:2: genesys.region: unknown region 'nowhere'; use a region domain such as "
        "mypurecloud.ie or an SDK region name such as eu_west_1",
        "p.yaml:5: queries[0].metrics[0]: unknown flow aggregate metric 'nFlows' "
        "(did you mean 'nFlow'?)",
        "p.yaml:7: queries[0].every: 5 has no unit; write 5s",
    ]


def test_invalid_yaml_reports_its_line() -> None:
    """A syntax error becomes a single ConfigError problem, with the line in the text form."""
    with pytest.raises(ConfigError) as caught:
        parse_config("genesys:\n  region: [mypurecloud.ie\n", source="p.yaml", env={})
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith("invalid YAML: ")
    assert str(caught.value).startswith("p.yaml:3: invalid YAML: ")


def test_more_than_one_document_is_refused() -> None:
    """A file holding two YAML documents is an error, not a silent pick of one."""
    with pytest.raises(ConfigError) as caught:
        parse_config(MINIMAL + "---\n" + MINIMAL, env={})
    assert caught.value.problems[0].startswith("invalid YAML: expected a single document")


def test_missing_file() -> None:
    """A config path that does not exist raises ConfigError naming the file."""
    with pytest.raises(ConfigError) as caught:
        load_config("/nonexistent/poller.yaml", env={})
    assert (
        str(caught.value)
        == "/nonexistent/poller.yaml: cannot read the file: No such file or directory"
    )


def test_directory_instead_of_file(tmp_path: Path) -> None:
    """A directory given as the config path is reported, not a traceback."""
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, env={})
    assert caught.value.problems == ["cannot read the file: Is a directory"]


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 are reported with their offset."""
    path = tmp_path / "latin1.yaml"
    path.write_bytes(MINIMAL.encode() + b"# caf\xe9\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert caught.value.problems == [f"not UTF-8 text (bad byte at offset {len(MINIMAL) + 5})"]


def test_anchors_and_aliases_are_followed() -> None:
    """YAML anchors, aliases and merge keys work, so shared settings can be written once."""
    text = MINIMAL + (
        "  - &base {name: other, type: aggregate, every: 30s, metrics: [tFlow]}\n"
        "  - {<<: *base, name: third}\n"
    )
    config = parse_config(text, env={})
    assert [q.name for q in config.queries] == ["flows", "other", "third"]
    assert query_named(config, "third").metrics == ("tFlow",)


def test_example_config_loads() -> None:
    """config/poller.yaml, the commented example, is valid and has the documented queries."""
    config = load_config(ROOT / "config" / "poller.yaml", env={})
    assert [q.name for q in config.queries] == [
        "flows_today",
        "flows_counted",
        "milestones_counted",
        "ivr_self_service",
        "ivr_transfers",
        "ivr_disconnects",
        "ivr_recognition",
        "ivr_versions",
        "outcomes_today",
        "milestones_today",
        "flows_active",
    ]
    today = query_named(config, "flows_today")
    assert (today.window, today.time_zone) == (Window(today=True), "Europe/Dublin")
    # One top-level time_zone, not one per query, sets the zone of every aggregate query.
    assert {q.time_zone for q in config.queries if q.type == "aggregate"} == {"Europe/Dublin"}
    assert "time_zone: Europe/Dublin" in (ROOT / "config" / "poller.yaml").read_text().splitlines()
    assert today.group_by == ("flowId", "flowName", "flowType")
    assert query_named(config, "outcomes_today").group_by == (
        "flowId",
        "flowName",
        "flowOutcomeId",
        "flowOutcome",
        "flowOutcomeValue",
    )
    assert query_named(config, "flows_active").type == "observation"
    counted = query_named(config, "flows_counted")
    assert (counted.mode, counted.period, counted.settle) == ("counter", 86400.0, 600.0)
    assert (counted.every, counted.group_by) == (15.0, ("flowId", "flowName"))
    assert counted.metrics == (
        "nFlow",
        "nFlowOutcome",
        "nFlowOutcomeFailed",
        "tFlow",
        "tFlowDisconnect",
    )
    assert [v.lt for v in counted.views] == [
        10000,
        30000,
        60000,
        90000,
        120000,
        180000,
        300000,
        600000,
        900000,
        1200000,
    ]
    milestones = query_named(config, "milestones_counted")
    assert (milestones.mode, milestones.every, milestones.period, milestones.settle) == (
        "counter",
        30.0,
        86400.0,
        600.0,
    )
    assert milestones.group_by == ("flowId", "flowMilestoneId")
    assert config.warnings == ()


def example_with_orgs() -> str:
    """config/poller.yaml with its commented-out `orgs:` block uncommented, as its comment says."""
    text = (ROOT / "config" / "poller.yaml").read_text(encoding="utf-8")
    head, block = text.split("\n#orgs:\n")
    return head + "\norgs:\n" + "".join(line[1:] + "\n" for line in block.splitlines())


def test_example_config_shows_every_option() -> None:
    """Every key the schema allows appears in config/poller.yaml (the `orgs:` keys in its
    commented-out block), so each one is explained."""
    data = yaml.safe_load(example_with_orgs())
    used: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            used.update(k for k in node if isinstance(k, str))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(data)
    schema = {
        *config_module.TOP_KEYS,
        *config_module.GENESYS_KEYS,
        *config_module.SERVER_KEYS,
        *config_module.AGGREGATE_KEYS,
        *config_module.OBSERVATION_KEYS,
        *config_module.FILTER_KEYS,
        *config_module.VIEW_KEYS,
        *config_module.NAMES_KEYS,
        *config_module.ORG_KEYS,
    } - {"clauses", "function"}  # optional forms the example explains in its comments
    assert schema - used == set()


def test_example_orgs_block_loads_when_uncommented() -> None:
    """The example's commented-out `orgs:` block, uncommented, is a valid two-org config."""
    config = parse_config(example_with_orgs(), env={})
    acme, globex = config.orgs
    assert (acme.name, acme.genesys.region, acme.genesys.requests_per_minute) == (
        "acme",
        "mypurecloud.ie",
        200,
    )
    assert acme.queries == config.queries
    assert globex.genesys.api_base_url == "https://proxy.example.com/genesys-api"
    assert [q.name for q in globex.queries] == ["flows_active"]


def test_demo_config_loads() -> None:
    """config/demo.yaml (the lead's demo) loads, also with the simulator's base URLs."""
    path = ROOT / "config" / "demo.yaml"
    assert load_config(path, env={}).genesys.region == "mypurecloud.ie"
    base = "http://127.0.0.1:9865"
    config = load_config(path, env={"GENESYS_API_BASE_URL": base, "GENESYS_LOGIN_BASE_URL": base})
    assert (config.genesys.api_base_url, config.genesys.login_base_url) == (base, base)


def test_keys_yaml_reads_as_other_types_are_shown_as_written() -> None:
    """`on:` (a YAML 1.1 boolean) and `~:` (null) as keys are named the way YAML reads them."""
    with pytest.raises(ConfigError) as caught:
        parse_config(MINIMAL + "on: yes\n~: 1\n", env={})
    assert caught.value.problems == [
        "unknown key true; allowed: genesys, server, time_zone, queries, names, orgs",
        "unknown key null; allowed: genesys, server, time_zone, queries, names, orgs",
    ]


def test_huge_numbers_are_problems_not_crashes() -> None:
    """Integers too long to be floats, or to be read at all, give ConfigError problems."""
    huge = "9" * 400
    text = MINIMAL.replace("every: 60s", f"every: {huge}") + (
        "    filter: {type: and, predicates: [{dimension: routingPriority, range: {gt: "
        + huge
        + "}}]}\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, env={})
    assert caught.value.problems == [
        "queries[0].every: expected a duration such as 15s, 15m or 1h30m, found the integer "
        "999999999999999999999999999..."
    ]
    with pytest.raises(ConfigError) as caught:
        parse_config(MINIMAL.replace("every: 60s", "every: " + "9" * 5000), env={})
    assert caught.value.problems == ["invalid YAML: a number has more than 4300 digits"]


def test_control_characters_are_invalid_yaml() -> None:
    """A NUL byte in the text is reported with its offset instead of crashing the parser."""
    with pytest.raises(ConfigError) as caught:
        parse_config("genesys: \x00\n", env={})
    assert caught.value.problems == [
        "invalid YAML: character #x0000 at offset 9: special characters are not allowed"
    ]


NAMES_BASE = """\
genesys:
  region: mypurecloud.ie
queries:
  - {name: q, type: aggregate, every: 1m, metrics: [nFlow]}
"""


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("", NamesSettings(enabled=True, every=3600.0)),
        ("names:\n  every: 15m\n", NamesSettings(enabled=True, every=900.0)),
        ("names:\n  every: off\n", NamesSettings(enabled=False)),
        ('names:\n  every: "off"\n', NamesSettings(enabled=False)),
    ],
)
def test_names_section(section: str, expected: NamesSettings) -> None:
    """names.every defaults to 1h; `off` turns the listings off."""
    assert parse_config(NAMES_BASE + section, env={}).names == expected


def test_names_section_errors_name_their_place() -> None:
    """A too-short or malformed names.every, or an unknown key, is an error at its line."""
    with pytest.raises(ConfigError) as exc:
        parse_config(NAMES_BASE + "names:\n  every: 30s\n", source="p.yaml", env={})
    assert str(exc.value) == (
        "p.yaml:6: names.every: 30s is too short; the minimum is 1m (or off to disable)"
    )
    with pytest.raises(ConfigError) as exc:
        parse_config(NAMES_BASE + "names:\n  evry: 1h\n", source="p.yaml", env={})
    assert exc.value.problems == [
        "names: unknown key 'evry' (did you mean 'every'?); allowed: every"
    ]


def test_max_series_defaults_to_20000_and_takes_a_positive_integer() -> None:
    """max_series: 20000 when left out, the given count when set, on both query types."""
    assert parse_config(MINIMAL, env={}).queries[0].max_series == 20000
    text = MINIMAL + "    max_series: 500\n"
    assert parse_config(text, env={}).queries[0].max_series == 500
    observed = MINIMAL.replace("aggregate", "observation").replace("[nFlow]", "[oFlow]")
    observed += "    filter: {type: or, predicates: [{dimension: mediaType, value: voice}]}\n"
    assert parse_config(observed + "    max_series: 7\n", env={}).queries[0].max_series == 7


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("0", "0 is out of range; use 1 to 10000000"),
        ("-3", "-3 is out of range; use 1 to 10000000"),
        ("2.5", "expected an integer from 1 to 10000000, found the number 2.5"),
        ("lots", "expected an integer from 1 to 10000000, found the string 'lots'"),
        ("true", "expected an integer from 1 to 10000000, found the boolean true"),
    ],
)
def test_max_series_that_is_not_a_positive_integer_is_refused_at_its_line(
    value: str, problem: str
) -> None:
    """A max_series of 0, negative, fractional or not a number is one problem at its line."""
    with pytest.raises(ConfigError) as caught:
        parse_config(MINIMAL + f"    max_series: {value}\n", source="p.yaml", env={})
    assert caught.value.problems == [f"queries[0].max_series: {problem}"]
    assert str(caught.value) == f"p.yaml:8: queries[0].max_series: {problem}"
