"""The simulator as an aiohttp application: OAuth token, both flow analytics endpoints, and a
small control API (`/simulator/faults`, `/simulator/stats`, `/simulator/org`, `/simulator/names`,
`/simulator/truth`).

Order of checks on an analytics request, as a gateway in front of the service would do them:
injected latency, bearer token (401), 429 storm, rate budget (429; refused requests do not
count), 403 fault, connection reset and 5xx faults, then the body (415, 413, 400), the answer,
and last the faults that spoil a 200 body (malformed, truncated, wrong shape, huge).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiohttp import web

from poller.simulator import contract
from poller.simulator.engine import Engine
from poller.simulator.errors import SimulatorSettingsError
from poller.simulator.injector import FaultInjector
from poller.simulator.listings import (
    LISTING_KINDS,
    LISTING_PERMISSIONS,
    deleted_flow_ids,
    entities,
    page,
)
from poller.simulator.org import Org
from poller.simulator.ratelimit import RateLimiter
from poller.simulator.replies import (
    AUTH_REQUIRED,
    BAD_CREDENTIALS,
    MALFORMED,
    SERVER_ERRORS,
    GenesysError,
    OAuthError,
    json_response,
    missing_permission,
    oauth_response,
    rate_limited,
    rejection_response,
)
from poller.simulator.settings import (
    SimulatorSettings,
    faults_from_json,
    parse_fault_spec,
)
from poller.simulator.stats import RESET_STATUS, RequestRecord, SimulatorStats
from poller.simulator.tokens import TokenStore, basic_credentials, bearer_token, same_secret
from poller.simulator.validation import validate_aggregate, validate_observation

log = structlog.get_logger("poller.simulator")

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

MAX_REQUEST_BYTES = 512_000  # request.bytes.max of the real platform
CONTROL_PREFIX = "/simulator/"
MALFORMED_BODY = b'{"results": [{"group": {"flowId": <html><body>Bad Gateway</body></html>'
WRONG_SHAPE_BODY = {"results": "Service temporarily degraded"}
ENDPOINTS = {contract.AGGREGATE_PATH: "aggregates", contract.OBSERVATION_PATH: "observations"}
PERMISSIONS = {
    "aggregates": contract.AGGREGATE_PERMISSION,
    "observations": contract.OBSERVATION_PERMISSION,
}


@dataclass
class SimulatorState:
    settings: SimulatorSettings
    clock: Clock
    sleep: Sleep
    org: Org
    engine: Engine
    tokens: TokenStore
    limiter: RateLimiter
    faults: FaultInjector
    stats: SimulatorStats = field(default_factory=SimulatorStats)
    # One query at a time in the worker thread: the engine's caches are not thread-safe.
    busy: asyncio.Lock | None = None
    # id -> new name of flows, outcomes and milestones renamed since (PUT /simulator/names).
    renames: dict[str, str] = field(default_factory=dict)


STATE = web.AppKey("simulator_state", SimulatorState)
CLIENT_ID = web.RequestKey("simulator_client_id", str)  # set once the caller is known
RESET = web.RequestKey("simulator_reset", bool)  # set when a reset fault closed the connection


def build_simulator_app(
    settings: SimulatorSettings,
    *,
    clock: Clock = time.time,
    rng: random.Random | None = None,
    sleep: Sleep = asyncio.sleep,
) -> web.Application:
    """The simulator app. `clock` drives tokens, rate limits, storms and which data exists;
    `rng` draws the faults (default: seeded from `settings.seed`); `sleep` serves latency."""
    org = Org(settings.seed, settings.flows)
    state = SimulatorState(
        settings=settings,
        clock=clock,
        sleep=sleep,
        org=org,
        engine=Engine(org, lag_ms=round(settings.lag * 1000)),
        tokens=TokenStore(settings.token_ttl),
        limiter=RateLimiter(settings.requests_per_minute),
        faults=FaultInjector(
            settings.faults, clock, rng if rng is not None else random.Random(settings.seed)
        ),
    )
    app = web.Application(middlewares=[_genesys_envelope], client_max_size=MAX_REQUEST_BYTES)
    app[STATE] = state
    app.router.add_post(contract.TOKEN_PATH, _token)
    app.router.add_post(contract.AGGREGATE_PATH, _analytics)
    app.router.add_post(contract.OBSERVATION_PATH, _analytics)
    for path in LISTING_KINDS:
        app.router.add_get(path, _listing)
    app.router.add_get("/simulator/faults", _get_faults)
    app.router.add_put("/simulator/faults", _put_faults)
    app.router.add_delete("/simulator/faults", _delete_faults)
    app.router.add_get("/simulator/stats", _get_stats)
    app.router.add_get("/simulator/org", _get_org)
    app.router.add_put("/simulator/names", _put_names)
    app.router.add_post("/simulator/truth", _post_truth)
    return app


def state_of(app: web.Application) -> SimulatorState:
    return app[STATE]


# -- envelope: correlation id, rate-limit headers, Genesys error bodies, stats ----------------


@web.middleware
async def _genesys_envelope(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    state = request.app[STATE]
    if request.path.startswith(CONTROL_PREFIX):
        return await handler(request)
    arrived = state.clock()
    context_id = str(uuid.uuid4())
    retry_after: int | None = None
    try:
        response = await handler(request)
    except OAuthError as exc:
        response = oauth_response(exc)
    except GenesysError as exc:
        response = rejection_response(exc, context_id)
        if exc.status == 429:
            retry_after = int(exc.headers["Retry-After"])
    except web.HTTPException as exc:
        # Router errors (404, 405) and aiohttp's own 413 get a Genesys body too.
        code, message = _HTTP_CODES.get(exc.status, ("bad.request", exc.reason))
        if exc.status == 413:
            message = f"Maximum bytes: {MAX_REQUEST_BYTES}"
        response = rejection_response(GenesysError(exc.status, code, message), context_id)
    client = request.get(CLIENT_ID)
    now = state.clock()
    status = RESET_STATUS if request.get(RESET, False) else response.status
    state.stats.record(RequestRecord(arrived, request.path, status, client, retry_after))
    budget = state.limiter.peek(client, now)
    response.headers[contract.CORRELATION_HEADER] = context_id
    response.headers["inin-ratelimit-count"] = str(budget.count)
    response.headers["inin-ratelimit-allowed"] = str(budget.allowed)
    response.headers["inin-ratelimit-reset"] = str(budget.reset)
    return response


_HTTP_CODES = {
    404: ("not.found", "The requested resource was not found."),
    405: ("bad.request", "The requested HTTP method is not allowed for this resource."),
    413: ("request.entity.too.large", ""),
}


# -- OAuth ------------------------------------------------------------------------------------


async def _token(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    faults = state.faults.settings
    if faults.latency > 0:
        await state.sleep(faults.latency)
    if faults.token_down:
        code, message = SERVER_ERRORS[503]
        raise GenesysError(503, code, message)
    login_storm = state.faults.login_retry_after(state.clock())
    if login_storm is not None:
        raise rate_limited(login_storm)
    credentials = basic_credentials(request.headers.get("Authorization"))
    if credentials is None:
        raise OAuthError(401, "invalid_client", "client credentials were not supplied")
    client_id, secret = credentials
    settings = state.settings
    if client_id != settings.client_id or not same_secret(secret, settings.client_secret):
        raise OAuthError(401, "invalid_client", "client authentication failed")
    if faults.client_disabled:
        raise OAuthError(400, "unauthorized_client", "client is disabled")
    form = await request.post()
    grant = form.get("grant_type")
    if grant != "client_credentials":
        raise OAuthError(400, "unsupported_grant_type", "grant type is not supported")
    request[CLIENT_ID] = client_id
    token = state.tokens.issue(client_id, state.clock())
    ttl = settings.token_ttl
    return json_response(
        {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": int(ttl) if float(ttl).is_integer() else ttl,
        }
    )


# -- analytics --------------------------------------------------------------------------------


async def _admit(request: web.Request, endpoint: str, permission: str) -> float:
    """The gateway's checks every API request passes: latency, token, 429s, permission.
    Returns the clock's now."""
    state = request.app[STATE]
    faults = state.faults
    if faults.settings.latency > 0:
        await state.sleep(faults.settings.latency)
    token = bearer_token(request.headers.get("Authorization"))
    if token is None:
        raise GenesysError(401, "authentication.required", AUTH_REQUIRED)
    now = state.clock()
    client = state.tokens.client(token, now)
    if client is None:
        raise GenesysError(401, "bad.credentials", BAD_CREDENTIALS)
    request[CLIENT_ID] = client
    storm = faults.storm_retry_after(now)
    if storm is not None:
        raise rate_limited(storm)
    budget = state.limiter.admit(client, now)
    if not budget.admitted:
        raise rate_limited(budget.reset)
    if faults.forbids(endpoint):
        raise missing_permission(permission)
    return now


async def _listing(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    kind = LISTING_KINDS[request.path]
    await _admit(request, kind, LISTING_PERMISSIONS[kind])
    query = dict(request.query)
    deleted = query.get("deleted", "false").lower() == "true"
    items = entities(state.org, kind, state.renames, deleted)
    return json_response(page(request.path, query, items))


async def _analytics(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    endpoint = ENDPOINTS[request.path]
    faults = state.faults
    now = await _admit(request, endpoint, PERMISSIONS[endpoint])
    fault = faults.draw()
    if fault is not None:
        log.debug("simulator.fault", fault=fault, path=request.path)
    if fault == "reset":
        request[RESET] = True
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=200)
    if fault is not None and fault.isdigit():
        code, message = SERVER_ERRORS[int(fault)]
        raise GenesysError(int(fault), code, message)

    body = await _json_body(request)
    now_ms = int(now * 1000)
    if state.busy is None:
        state.busy = asyncio.Lock()
    async with state.busy:
        # Large orgs take a while to answer; a thread keeps the event loop (and, in the demo,
        # the daemon sharing it) responsive meanwhile.
        if endpoint == "aggregates":
            query = validate_aggregate(body)
            payload = await asyncio.to_thread(_encode, state.engine.aggregate, query, now_ms)
        else:
            obs_query = validate_observation(body)
            payload = await asyncio.to_thread(_encode, state.engine.observe, obs_query, now_ms)
    return _spoil(payload, fault, state.faults.settings.huge_size)


def _encode(answer: Callable[[Any, int], object], query: Any, now_ms: int) -> bytes:
    return json.dumps(answer(query, now_ms), separators=(",", ":")).encode()


async def _json_body(request: web.Request) -> object:
    if request.content_type != "application/json":
        raise GenesysError(
            415,
            "unsupported.media.type",
            f"Unsupported Media Type [{request.content_type}]; send application/json",
        )
    raw = await request.read()
    try:
        return json.loads(raw)
    except ValueError:
        raise GenesysError(400, "bad.request", MALFORMED) from None


def _spoil(payload: bytes, fault: str | None, huge_size: int) -> web.Response:
    """The 200 answer, spoiled the way the drawn body fault says."""
    if fault == "malformed":
        body = MALFORMED_BODY
    elif fault == "truncated":
        # A proper prefix of a JSON object is never valid JSON.
        body = payload[: max(1, len(payload) // 2)]
    elif fault == "wrongshape":
        body = json.dumps(WRONG_SHAPE_BODY).encode()
    elif fault == "huge":
        body = payload + b" " * max(0, huge_size - len(payload))
    else:
        body = payload
    return web.Response(body=body, status=200, content_type="application/json")


# -- control API ------------------------------------------------------------------------------


async def _get_faults(request: web.Request) -> web.StreamResponse:
    return json_response(request.app[STATE].faults.settings.to_json())


async def _put_faults(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    try:
        if request.content_type == "text/plain":
            faults = parse_fault_spec(await request.text())
        else:
            try:
                body = json.loads(await request.read())
            except ValueError:
                raise SimulatorSettingsError(["faults: the body is not JSON"]) from None
            faults = faults_from_json(body)
    except SimulatorSettingsError as exc:
        return json_response(
            {"message": str(exc), "code": "bad.request", "status": 400, "problems": exc.problems},
            status=400,
        )
    state.faults.set(faults)
    return json_response(faults.to_json())


async def _delete_faults(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    state.faults.set(parse_fault_spec(""))
    return json_response(state.faults.settings.to_json())


async def _get_stats(request: web.Request) -> web.StreamResponse:
    return json_response(request.app[STATE].stats.to_json())


async def _get_org(request: web.Request) -> web.StreamResponse:
    return json_response(org_summary(request.app[STATE].org))


async def _put_names(request: web.Request) -> web.StreamResponse:
    """Rename flows, outcomes or milestones in the listings: a JSON object {id: new name}."""
    state = request.app[STATE]
    try:
        body = json.loads(await request.read())
    except ValueError:
        body = None
    known = {f.id for f in state.org.flows}
    known |= {e.id for e in (*state.org.outcomes, *state.org.milestones)}
    if not isinstance(body, dict) or not all(
        isinstance(k, str) and k in known and isinstance(v, str) and v for k, v in body.items()
    ):
        return json_response(
            {
                "message": "names: expected a JSON object from known ids to non-empty names",
                "code": "bad.request",
                "status": 400,
            },
            status=400,
        )
    state.renames.update(body)
    return json_response(dict(state.renames))


async def _post_truth(request: web.Request) -> web.StreamResponse:
    """The ground truth for an aggregate query body (no token, no faults, no rate budget): the
    answer once every metric of its interval is visible, whatever the clock says. For tests that
    run the simulator as a separate process (`simulate`)."""
    state = request.app[STATE]
    try:
        body = json.loads(await request.read())
        query = validate_aggregate(body)
    except ValueError:
        return json_response(
            {"message": MALFORMED, "code": "bad.request", "status": 400}, status=400
        )
    except GenesysError as exc:
        return json_response(
            {"message": exc.message, "code": exc.code, "status": exc.status}, status=exc.status
        )
    if state.busy is None:
        state.busy = asyncio.Lock()
    async with state.busy:
        payload = await asyncio.to_thread(_encode, _truth_of(state.engine), query, 0)
    return web.Response(body=payload, status=200, content_type="application/json")


def _truth_of(engine: Engine) -> Callable[[Any, int], object]:
    return lambda query, _now: engine.truth(query)


def org_summary(org: Org) -> dict[str, object]:
    """The synthetic org as JSON: what a test needs to write filters and expected labels."""
    gone = deleted_flow_ids(org)
    return {
        "divisions": [{"id": d.id, "name": d.name} for d in org.divisions],
        "flows": [
            {
                "id": f.id,
                "name": f.name,
                "type": f.type,
                "mediaType": f.media_type,
                "version": f.version,
                "divisionId": f.division_id,
                "deleted": f.id in gone,
                "outcomes": [{"id": o.outcome.id, "name": o.outcome.name} for o in f.outcomes],
                "milestones": [
                    {"id": m.milestone.id, "name": m.milestone.name} for m in f.milestones
                ],
            }
            for f in org.flows
        ],
    }
