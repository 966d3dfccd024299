"""Binding a listening address: one taken by another process becomes one line that names it and
what changes it, the same for every command that listens (run, demo, simulate)."""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator

from poller.errors import PollerError


class AddressInUseError(PollerError):
    """The address to listen on is taken; the message says how to choose another."""

    def __init__(self, address: str, fix: str) -> None:
        self.address = address
        super().__init__(f"cannot listen on {address}: the address is already in use; {fix}")


@contextlib.contextmanager
def binding(address: str, fix: str) -> Iterator[None]:
    """Turns an "address already in use" raised inside into AddressInUseError(address, fix)."""
    try:
        yield
    except OSError as err:
        if err.errno != errno.EADDRINUSE:
            raise
        raise AddressInUseError(address, fix) from None
