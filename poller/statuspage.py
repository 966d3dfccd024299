"""The status page at `/`: the data of poller.statusdata as one server-rendered HTML page.

No script: it works with JavaScript off, and a meta refresh reloads it every REFRESH seconds.
Every value is escaped where it is written (flow names, Genesys' error messages and config values
all come from outside), and the one inline style block carries the response's CSP nonce.
"""

from __future__ import annotations

import html
import secrets
import time
from collections.abc import Iterable, Mapping
from typing import Any, Final

REFRESH: Final = 30  # seconds between the page's own reloads

STYLE: Final = """
body{font-family:system-ui,sans-serif;margin:1.5em;line-height:1.4;color:#222}
h1{margin:0 0 .2em}h2{margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0;font-size:.92em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.n{text-align:right}
.state{font-weight:600;padding:0 .4em;border-radius:.3em;white-space:nowrap}
.ok{background:#d9f2d9}.waiting{background:#e6e6e6}.failing,.stale{background:#f8d0d0}
.throttled{background:#fbe8b5}.muted{color:#666}code{background:#eee;padding:0 .2em}
"""


def e(value: object) -> str:
    """`value` as HTML text: every value on the page goes through here."""
    return html.escape("" if value is None else str(value), quote=True)


def csp(nonce: str) -> str:
    """No script, no image, no frame, no form: only this page's own style block."""
    return (
        f"default-src 'none'; style-src 'nonce-{nonce}'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    )


def new_nonce() -> str:
    return secrets.token_urlsafe(16)


def span(seconds: float | None) -> str:
    """12s, 3m 4s, 2h 5m, 3d 4h: a duration for people."""
    if seconds is None:
        return "-"
    if abs(seconds) < 10 and not float(seconds).is_integer():
        return f"{abs(seconds):.2f}s"  # a poll's duration: tenths matter
    s = round(abs(seconds))
    for unit, size, sub, subsize in (
        ("d", 86400, "h", 3600),
        ("h", 3600, "m", 60),
        ("m", 60, "s", 1),
    ):
        if s >= size:
            rest = s % size // subsize
            return f"{s // size}{unit} {rest}{sub}" if rest else f"{s // size}{unit}"
    return f"{s}s"


def stamp(at: float | None) -> str:
    if at is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(at))


def relative(at: float | None, now: float) -> str:
    """`stamp(at)` with how long ago or from now."""
    if at is None:
        return "-"
    words = f"in {span(round(at - now))}" if at > now else f"{span(round(now - at))} ago"
    return f'<span title="{e(stamp(at))}">{e(words)}</span>'


def render(status: Mapping[str, Any], nonce: str) -> str:
    now = status["generated_at"] or time.time()
    poller = status["poller"]
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="refresh" content="{REFRESH}">',
        "<title>genesyscloud-poller status</title>",
        f'<style nonce="{e(nonce)}">{STYLE}</style></head><body>',
        "<h1>genesyscloud-poller</h1>",
        f'<p class="muted">Genesys Cloud flow analytics as Prometheus metrics. Version '
        f"{e(poller['version'])} (Python {e(poller['python'])}). As of {e(stamp(now))}; this "
        f"page reloads every {REFRESH}s.</p>",
        '<p><a href="metrics">/metrics</a> &middot; <a href="status.json">/status.json</a> '
        '&middot; <a href="readyz">/readyz</a> &middot; <a href="healthz">/healthz</a></p>',
        _poller(poller, status["orgs"], now),
    ]
    for org in status["orgs"]:
        parts.append(_org(org, now, named=any(o["name"] for o in status["orgs"])))
    if not status["orgs"]:
        parts.append("<p>No org to poll.</p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _poller(poller: Mapping[str, Any], orgs: list[Mapping[str, Any]], now: float) -> str:
    rows = [("Config file", f"<code>{e(poller['config'])}</code>")]
    reload = poller["last_reload"]
    if reload is not None:
        word = "ok" if reload["ok"] else "failed"
        rows.append(
            (
                "Last config load",
                f'<span class="state {"ok" if reload["ok"] else "failing"}">{word}</span> '
                f"{relative(reload['at'], now)}: {e(reload['message'])}",
            )
        )
    rows.append(("Running since", relative(poller["started_at"], now)))
    shard = poller["shard"]
    if shard is not None:
        names = ", ".join(f"<code>{e(o['name'])}</code>" for o in orgs) or "no org"
        where = (
            f"Shard {e(shard['index'])} of {e(shard['count'])}"
            if shard["count"] > 1
            else "One replica (not sharded)"
        )
        owns = (
            f"{where}, polling {names}"
            if orgs
            else f"{where} owns no org: the orgs all hash to other shards"
        )
        rows.append(("Orgs", owns))
    return _table(("", ""), rows, header=False)


def _org(org: Mapping[str, Any], now: float, *, named: bool) -> str:
    api = org["api"]
    title = f"Org <code>{e(org['name'])}</code>" if named else "Queries"
    region = f" ({e(org['region'])})" if org["region"] else ""
    parts = [f"<h2>{title}{region}</h2>"]
    parts.append(_queries(org["queries"], now))
    paused = api["paused_until"]
    pause = (
        f'<span class="state throttled">paused</span> until {e(stamp(paused))} '
        f"({relative(paused, now)}): Genesys answered 429 with a Retry-After"
        if paused is not None
        else "none"
    )
    token = api["token_expires_at"]
    rows = [
        ("API", f"<code>{e(org['api_base_url'])}</code>"),
        (
            "Requests in the last minute",
            f"{e(api['requests_last_minute'])} of a budget of {e(api['requests_per_minute'])}",
        ),
        ("Retry-After pause", pause),
        ("Access token", "not logged in" if token is None else f"expires {relative(token, now)}"),
        ("Answers by status", _answers(api["answers"])),
    ]
    parts.append(_table(("", ""), rows, header=False))
    if org["names"]:
        parts.append(_names(org["names"], now))
    if org.get("push"):
        parts.append(_push(org["push"], now))
    return "\n".join(parts)


def _push(push: Mapping[str, Any], now: float) -> str:
    """The org's Notifications API push: its state, channels, topics, last message and the last
    reconnect with its reason; which queries it feeds and whether they are in step."""
    state = push["state"]
    reconnect = push["last_reconnect"]
    forbidden = push["forbidden"]
    rows = [
        ("State", f'<span class="state {e(state)}">{e(state)}</span>'),
        (
            "Channels",
            "<br>".join(
                f"<code>{e(c['id'])}</code>: {e(c['topics'])} topics, "
                f"{'connected' if c['connected'] else 'not connected'}, "
                f"expires {relative(c['expires'], now)}"
                for c in push["channels"]
            )
            or "none",
        ),
        ("Topics subscribed", f'<span class="n">{e(push["topics"])}</span>'),
        ("Last message", relative(push["last_message"], now)),
        (
            "Last reconnect",
            "none"
            if reconnect is None
            else f"{relative(reconnect, now)}: {e(push['last_reconnect_reason'])}",
        ),
        (
            "Topics refused",
            "none"
            if not forbidden
            else f"{len(forbidden)} flow(s), for lack of analytics:flowAggregate:view: "
            + ", ".join(f"<code>{e(flow)}</code>" for flow in forbidden[:10])
            + (" ..." if len(forbidden) > 10 else ""),
        ),
        (
            "Queries fed",
            "<br>".join(
                f"<code>{e(q['name'])}</code>: {e(', '.join(q['metrics']))} "
                + ("(in step with its polls)" if q["in_step"] else "(not in step: polls only)")
                for q in push["queries"]
            )
            or "none",
        ),
    ]
    return "<h3>Push</h3>" + _table(("", ""), rows, header=False)


def _queries(queries: list[Mapping[str, Any]], now: float) -> str:
    rows = []
    for q in queries:
        age = q["age"]
        fresh = "-" if age is None else f"{span(round(age))} / {span(q['stale_after'])}"
        schedule = f"every {span(q['every'])}, {e(q['window'])}"
        rows.append(
            (
                f"<code>{e(q['name'])}</code>",
                e(q["type"] if q["mode"] == "gauge" else f"{q['type']} ({q['mode']})"),
                schedule,
                f'<span class="state {e(q["state"])}">{e(q["state"])}</span>',
                e(fresh),
                e(span(q["last_duration"]) if q["last_duration"] is not None else "-"),
                f'<span class="n">{e(q["series"])}</span>',
                relative(q["next_run"], now),
                _error(q["error"], q["failing_now"], now),
            )
        )
    head = ["Query", "Type", "Schedule", "State", "Data age / stale_after", "Last poll"]
    head += ["Series", "Next run", "Last error"]
    return _table(head, rows)


def _error(error: Mapping[str, Any] | None, now_failing: bool, now: float) -> str:
    if error is None:
        return "-"
    details = [
        f"{label} {e(error[key])}"
        for label, key in (
            ("HTTP", "status"),
            ("code", "code"),
            ("correlation id", "correlation_id"),
        )
        if error[key] is not None
    ]
    extra = f'<br><span class="muted">{", ".join(details)}</span>' if details else ""
    extra += _series_limit(error.get("series_limit"))
    when = relative(error["at"], now)
    earlier = "" if now_failing else " (recovered since)"
    return f'{e(error["message"])}{extra}<br><span class="muted">{when}{earlier}</span>'


def _series_limit(limit: Mapping[str, Any] | None) -> str:
    """What a result refused by max_series came to, and what to drop."""
    if limit is None:
        return ""
    words = f"{e(limit['series'])} series came back, max_series is {e(limit['limit'])}"
    if limit["drop"] is not None:
        words += (
            f": drop <code>{e(limit['drop'])}</code> from group_by "
            f"({e(limit['distinct'])} distinct values), or filter it"
        )
    return f"<br><strong>{words}</strong>"


def _answers(minutes: list[Mapping[str, Any]]) -> str:
    if not minutes:
        return "none in the last 5 minutes"
    items = []
    for minute in minutes:
        codes = ", ".join(f"{e(code)}: {e(n)}" for code, n in minute["codes"].items())
        items.append(f"{e(stamp(minute['minute'])[11:16])}Z {codes}")
    return "<br>".join(items)


def _names(kinds: list[Mapping[str, Any]], now: float) -> str:
    rows = []
    for kind in kinds:
        changes = "<br>".join(_change(c, now) for c in kind["changes"]) or "-"
        rows.append(
            (
                e(kind["kind"]),
                f'<span class="state {e(kind["state"])}">{e(kind["state"])}</span>',
                f'<span class="n">{e(kind["entities"])}</span>',
                relative(kind["last_success"], now),
                e(kind["error"]) or "-",
                changes,
            )
        )
    return "<h3>Names</h3>" + _table(
        ("Listing", "State", "Entities", "Last read", "Error", "Changes seen"), rows
    )


def _change(change: Mapping[str, Any], now: float) -> str:
    what = change["change"]
    name = f"<q>{e(change['name'])}</q>"
    if what == "renamed":
        text = f"<q>{e(change['before'])}</q> renamed to {name}"
    else:
        text = f"{name} {e(what)}"
    return f'{text} <span class="muted">({relative(change["at"], now)})</span>'


def _table(head: Iterable[str], rows: Iterable[Iterable[str]], *, header: bool = True) -> str:
    """Cells are HTML already escaped by their makers."""
    out = ["<table>"]
    if header:
        out.append("<tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>")
    for row in rows:
        cells = list(row)
        if not header:
            out.append(f"<tr><th>{cells[0]}</th>" + "".join(f"<td>{c}</td>" for c in cells[1:]))
        else:
            out.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)
