"""The README's Commands section against the argument parsers: every flag `--help` shows, with
its placeholder and its default, and nothing else, so the two cannot drift apart."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from poller.cli import parser, subcommands

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
PROG = "genesyscloud-poller"
# (command, flag, placeholder or "" for a switch)
Flag = tuple[str, str, str]


def section(title: str) -> str:
    """The README's text under `## title`, up to the next heading of that level."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", README, re.S | re.M)
    assert match, f"README has no section {title!r}"
    return match.group(1)


def tables(text: str) -> list[list[list[str]]]:
    """Each Markdown table of `text`: its body rows, each a list of cells (`\\|` read as `|`)."""
    out: list[list[list[str]]] = []
    rows: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
            rows.append([cell.strip().replace("\\|", "|") for cell in cells])
        elif rows:
            out.append(rows[2:])  # header and rule left out
            rows = []
    return out


def code(cell: str) -> list[str]:
    """The `code` spans of a cell."""
    return re.findall(r"`([^`]+)`", cell)


def options(command: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in command._actions if a.option_strings and a.dest != "help"]


def placeholder(action: argparse.Action) -> str:
    return "" if action.nargs == 0 else str(action.metavar)


def default_text(action: argparse.Action) -> str:
    """What the flag's help says its default is: the "(default: ...)" its help ends with, which
    is the parser's own default when it has one."""
    text = " ".join(str(action.help).split()) % {"default": action.default}
    match = re.search(r"\(default: (.+)\)$", text)
    assert match, f"{action.option_strings[0]}'s help does not end with its default: {text!r}"
    if action.default not in (None, False, ""):
        assert match.group(1) == str(action.default), text
    return match.group(1)


def from_parsers() -> dict[Flag, str]:
    """{(command, flag, placeholder): default} for every flag of every command."""
    return {
        (name, action.option_strings[0], placeholder(action)): default_text(action)
        for name, command in subcommands(parser()).items()
        for action in options(command)
    }


def synopses() -> dict[str, list[tuple[str, str]]]:
    """{command: [(flag, placeholder)]} from the first column of the Commands table."""
    out: dict[str, list[tuple[str, str]]] = {}
    for row in tables(section("Commands"))[0]:
        (line,) = code(row[0])
        words = line.split()
        assert words[0] == PROG, line
        if words[1].startswith("--"):
            out[""] = [(words[1], "")]
            continue
        out[words[1]] = re.findall(r"\[(--[\w.-]+)(?: ([^\]\s]+))?\]", line)
        assert line.count("[") == len(out[words[1]]), f"a bracket holds other than one flag: {line}"
    return out


def flag_rows() -> dict[Flag, str]:
    """{(command, flag, placeholder): default} from the Commands section's flag table."""
    out: dict[Flag, str] = {}
    for row in tables(section("Commands"))[1]:
        flag, on, default = row[0], row[1], row[2]
        (written,) = code(flag)
        name, _, shown = written.partition(" ")
        for command in code(on):
            key = (command, name, shown)
            assert key not in out, f"{key} has two rows"
            out[key] = default.replace("`", "")
    return out


def test_every_command_and_flag_help_shows_is_in_the_synopses() -> None:
    """The Commands table has a row per command, and each row's synopsis lists exactly the
    flags that command's --help shows, with the same placeholders, in the same order; the
    top-level --version has its own row."""
    expected = {
        name: [(a.option_strings[0], placeholder(a)) for a in options(command)]
        for name, command in subcommands(parser()).items()
    }
    expected[""] = [(a.option_strings[0], "") for a in options(parser())]
    assert synopses() == expected


def test_the_flag_table_gives_every_flag_its_placeholder_and_default() -> None:
    """The flag table lists every (command, flag, placeholder) once, with the default the flag's
    help gives, and no flag the parsers lack."""
    assert flag_rows() == from_parsers()
