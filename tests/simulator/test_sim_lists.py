"""The simulator's copy of the API's lists against the poller's: the two must agree.

They are kept apart on purpose (a name wrong in one is caught by the other); this test is what
keeps them from drifting.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from poller import catalog
from poller.simulator import contract

SIMULATOR_DIR = Path(contract.__file__).parent

LISTS = [
    ("aggregate metrics", contract.AGGREGATE_METRICS, catalog.AGGREGATE_METRICS),
    ("observation metrics", contract.OBSERVATION_METRICS, catalog.OBSERVATION_METRICS),
    ("groupBy dimensions", contract.GROUP_BY_DIMENSIONS, catalog.GROUP_BY_DIMENSIONS),
    (
        "aggregate filter dimensions",
        contract.AGGREGATE_FILTER_DIMENSIONS,
        catalog.AGGREGATE_FILTER_DIMENSIONS,
    ),
    (
        "observation filter dimensions",
        contract.OBSERVATION_FILTER_DIMENSIONS,
        catalog.OBSERVATION_FILTER_DIMENSIONS,
    ),
    ("filter types", contract.FILTER_TYPES, catalog.FILTER_TYPES),
    ("predicate types", contract.PREDICATE_TYPES, catalog.PREDICATE_TYPES),
    ("predicate operators", contract.PREDICATE_OPERATORS, catalog.PREDICATE_OPERATORS),
    ("numeric range keys", contract.RANGE_KEYS, catalog.RANGE_KEYS),
    ("view functions", contract.VIEW_FUNCTIONS, catalog.VIEW_FUNCTIONS),
]

VALUES = [
    ("most views per query", contract.MAX_VIEWS, catalog.MAX_VIEWS),
    ("aggregate path", contract.AGGREGATE_PATH, catalog.AGGREGATE_PATH),
    ("observation path", contract.OBSERVATION_PATH, catalog.OBSERVATION_PATH),
    ("token path", contract.TOKEN_PATH, catalog.TOKEN_PATH),
    ("aggregate permission", contract.AGGREGATE_PERMISSION, catalog.AGGREGATE_PERMISSION),
    ("observation permission", contract.OBSERVATION_PERMISSION, catalog.OBSERVATION_PERMISSION),
    ("correlation header", contract.CORRELATION_HEADER, catalog.CORRELATION_HEADER),
]


def differences(simulator: tuple[str, ...], poller: tuple[str, ...]) -> str:
    """What only one side has, or '' when both hold the same names once each."""
    problems = []
    only_sim = sorted(set(simulator) - set(poller))
    only_poller = sorted(set(poller) - set(simulator))
    if only_sim:
        problems.append(f"only in the simulator: {', '.join(only_sim)}")
    if only_poller:
        problems.append(f"only in the poller: {', '.join(only_poller)}")
    for side, names in (("simulator", simulator), ("poller", poller)):
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            problems.append(f"listed twice in the {side}: {', '.join(twice)}")
    return "; ".join(problems)


@pytest.mark.parametrize(("what", "simulator", "poller"), LISTS, ids=[w for w, *_ in LISTS])
def test_lists_agree(what: str, simulator: tuple[str, ...], poller: tuple[str, ...]) -> None:
    """Each list of the API holds the same names in the simulator and in the poller."""
    assert not differences(simulator, poller), f"{what}: {differences(simulator, poller)}"


@pytest.mark.parametrize(("what", "simulator", "poller"), VALUES, ids=[w for w, *_ in VALUES])
def test_values_agree(what: str, simulator: object, poller: object) -> None:
    """Paths, permissions, the correlation header and the view limit are the same on both sides."""
    assert simulator == poller, f"{what}: simulator {simulator!r}, poller {poller!r}"


def test_differences_names_each_side() -> None:
    """The comparison reports what only the simulator has and what only the poller has."""
    assert differences(("nFlow", "tFlow", "tFlow"), ("nFlow", "nFlows")) == (
        "only in the simulator: tFlow; only in the poller: nFlows; "
        "listed twice in the simulator: tFlow"
    )


def test_simulator_imports_nothing_from_the_poller() -> None:
    """poller.simulator stays an independent implementation: no import of another poller module."""
    found = []
    for path in sorted(SIMULATOR_DIR.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                if name.split(".")[0] == "poller" and not name.startswith("poller.simulator"):
                    found.append(f"{path.name}:{node.lineno} imports {name}")
    assert found == []
