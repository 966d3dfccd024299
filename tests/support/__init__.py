"""The one test toolkit: fake clock, canned replies and a fake Genesys, the simulator + daemon
stack, the exposition parser, the wait helpers and a headless Chromium. Import by absolute path,
e.g. `from tests.support.clock import FakeClock`."""
