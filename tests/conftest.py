"""Settings for the whole test process."""

from prometheus_client import disable_created_metrics

# The daemon turns `_created` series off when it starts; tests that render self-metrics without
# building one see what the daemon serves.
disable_created_metrics()  # type: ignore[no-untyped-call]
