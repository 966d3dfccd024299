"""Reading /metrics text, through prometheus_client's own parser (never a hand-written one)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

Labels = frozenset[tuple[str, str]]
Key = tuple[str, Labels]


def samples(text: str | bytes) -> list[tuple[str, dict[str, str], float]]:
    """(sample name, labels, value) of every sample, in exposition order."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    return [
        (s.name, dict(s.labels), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def key(name: str, **labels: str) -> Key:
    return (name, frozenset(labels.items()))


class Exposition:
    """A parsed exposition: `values` is {(sample name, frozenset of label pairs): value}; the
    methods look samples up by name and a subset of labels. Counter samples end in `_total`."""

    def __init__(self, text: str | bytes) -> None:
        self.text = text.decode("utf-8") if isinstance(text, bytes) else text
        self.samples = samples(self.text)
        self.values: dict[Key, float] = {
            (name, frozenset(labels.items())): value for name, labels, value in self.samples
        }

    def names(self) -> set[str]:
        return {name for name, _, _ in self.samples}

    def series(self, name: str, **labels: str) -> list[tuple[dict[str, str], float]]:
        """(labels, value) of every `name` sample whose labels include `labels`."""
        return [
            (have, value)
            for sample, have, value in self.samples
            if sample == name and all(have.get(k) == v for k, v in labels.items())
        ]

    def by(self, label: str, name: str, **labels: str) -> dict[str, float]:
        """{value of `label`: sample value} over `series(name, **labels)`."""
        return {have[label]: value for have, value in self.series(name, **labels)}

    def get(self, name: str, **labels: str) -> float | None:
        """The first `name` sample whose labels include `labels`, or None."""
        found = self.series(name, **labels)
        return found[0][1] if found else None

    def total(self, name: str, **labels: str) -> float:
        return sum(value for _, value in self.series(name, **labels))

    def up(self, query: str) -> float | None:
        return self.get("genesyscloud_poller_query_up", query=query)

    def last_success(self, query: str) -> float | None:
        return self.get("genesyscloud_poller_query_last_success_timestamp_seconds", query=query)

    def flow_series(self, query: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """The query's flow series: (sample name, sorted labels) -> value."""
        return {
            (sample, tuple(sorted(have.items()))): value
            for sample, have, value in self.samples
            if sample.startswith("genesyscloud_flow_") and have.get("query") == query
        }


def parse(text: str | bytes) -> Exposition:
    return Exposition(text)
