"""The browser helper's pure parts, without a browser (the fast tier)."""

from __future__ import annotations

import shutil

import pytest

from tests.support.browser import INSTALL_HINT, Dom, chromium, with_basic_auth


def test_missing_chromium_fails_with_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a chromium binary the test fails (never skips) and says how to install it."""
    monkeypatch.setattr(shutil, "which", lambda *_args, **_kwargs: None)
    with pytest.raises(pytest.fail.Exception, match="apt-get install chromium") as failed:
        chromium()
    assert str(failed.value) == INSTALL_HINT


def test_with_basic_auth_quotes_the_credentials() -> None:
    """Credentials go into the URL percent-encoded, replacing any already there."""
    url = with_basic_auth("http://old:pw@127.0.0.1:80/a?b=c", "op", "p:w/@")
    assert url == "http://op:p%3Aw%2F%40@127.0.0.1:80/a?b=c"


def test_dom_elements_text_and_title() -> None:
    """Dom finds elements with attributes and nested text; its text leaves out scripts and
    the title, and decodes character references."""
    dom = Dom(
        "<html><head><title> T </title><script>x = 1</script></head>"
        '<body><p id="a">one <b>two</b></p><img src="i"><p>&lt;img&gt;</p></body></html>'
    )
    assert dom.title == "T"
    assert [(p.attrs, p.text) for p in dom.find_all("p")] == [
        ({"id": "a"}, "one two"),
        ({}, "<img>"),
    ]
    assert [i.attrs for i in dom.find_all("img")] == [{"src": "i"}]
    assert dom.text == "one two<img>"
