"""genesyscloud-poller: Genesys Cloud flow analytics as Prometheus metrics."""

__version__ = "0.1.0"
