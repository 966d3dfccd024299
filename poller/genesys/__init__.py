"""The only package that knows HTTP and Genesys Cloud's bodies: OAuth login, flow queries and
the Architect listings.

`GenesysClient` puts together one HTTP session, the OAuth token source and the query transport;
the rest of the daemon sees a query's raw 200 body, a listing's entities, or one of the ApiError
types, and takes a client as the Protocol of what it calls (`QueryClient`, `ListingClient`).
"""

from poller.genesys.api import ListingClient, QueryClient
from poller.genesys.client import GenesysClient
from poller.genesys.http import Endpoint, ListingEndpoint, QueryEndpoint, Reply
from poller.genesys.listings import LISTINGS, Entity, Listing
from poller.genesys.retry import RetryPolicy

__all__ = [
    "LISTINGS",
    "Endpoint",
    "Entity",
    "GenesysClient",
    "Listing",
    "ListingClient",
    "ListingEndpoint",
    "QueryClient",
    "QueryEndpoint",
    "Reply",
    "RetryPolicy",
]
