"""Pages loaded in a real headless Chromium (tests/support/browser.py)."""
