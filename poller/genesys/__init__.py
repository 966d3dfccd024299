"""The only package that knows HTTP and Genesys Cloud's bodies: OAuth login and flow queries.

`GenesysClient` puts together one HTTP session, the OAuth token source and the query transport;
the rest of the daemon sees a query's raw 200 body, or one of the ApiError types.
"""

from poller.genesys.client import GenesysClient
from poller.genesys.http import Endpoint, Reply
from poller.genesys.listings import Entity
from poller.genesys.retry import RetryPolicy

__all__ = ["Endpoint", "Entity", "GenesysClient", "Reply", "RetryPolicy"]
