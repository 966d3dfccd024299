"""The simulator as an aiohttp application: OAuth token, both flow analytics endpoints, the
Notifications API's channels and sockets (`pushroutes`, `pushsocket`), and a small control API
(`/simulator/faults`, `/simulator/flows/{flow_id}/fault`, `/simulator/flows/faults`,
`/simulator/flows/{flow_id}/publish`, `/simulator/flows/publishes`, `/simulator/stats`,
`/simulator/org`, `/simulator/names`, `/simulator/truth`, `/simulator/push...`).

It serves one or more orgs, one per OAuth client, kept apart as Genesys keeps them: each has its
own synthetic data, rate budget, faults, 429 storms, renames and stats, and a token authorises
only the org whose client it was issued to. The control API acts on the first org, or on the one
named by `?client_id=` (404 for an unknown one).

Order of checks on an analytics request, as a gateway in front of the service would do them:
injected latency, bearer token (401), 429 storm, rate budget (429; refused requests do not
count), 403 fault, connection reset and 5xx faults, then the body (415, 413, 400), the answer,
and last the faults that spoil a 200 body (malformed, truncated, wrong shape, huge).
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiohttp import web

from poller.simulator import contract
from poller.simulator.activity import entries_per_hour
from poller.simulator.engine import Engine
from poller.simulator.errors import SimulatorSettingsError
from poller.simulator.flowfaults import (
    DEFAULT_FACTOR,
    FlowFault,
    FlowFaultSpec,
    fault_problem,
)
from poller.simulator.injector import FaultInjector
from poller.simulator.listings import (
    LISTING_KINDS,
    LISTING_PERMISSIONS,
    deleted_flow_ids,
    entities,
    page,
)
from poller.simulator.org import TRANSFER_TARGETS, Flow, Org
from poller.simulator.publishing import Publish, PublishSpec
from poller.simulator.pushroutes import NOTIFICATIONS_PREFIX, SOCKET_PATH, add_push_routes
from poller.simulator.pushsettings import PushFaultSpec
from poller.simulator.pushsocket import PushHub, PushOrg, Wait
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
class OrgState:
    """One org, behind one OAuth client."""

    settings: SimulatorSettings  # this org's own: its client, seed and faults
    org: Org
    engine: Engine
    limiter: RateLimiter
    faults: FaultInjector
    # Requests that name no known org (no token, an unknown one) are counted by the first org.
    stats: SimulatorStats = field(default_factory=SimulatorStats)
    # One query at a time in the worker thread: the engine's caches are not thread-safe.
    busy: asyncio.Lock | None = None
    # id -> new name of flows, outcomes and milestones renamed since (PUT /simulator/names).
    renames: dict[str, str] = field(default_factory=dict)
    push: PushOrg | None = None  # its notification channels (set by build_simulator_app)

    @property
    def client_id(self) -> str:
        return self.settings.client_id


@dataclass
class SimulatorState:
    """Every org by client id, the first one first; `org`, `engine`, `faults`, `stats`,
    `limiter` and `renames` are the first org's."""

    settings: SimulatorSettings
    clock: Clock
    sleep: Sleep
    # One store for all orgs: a token names its client, and the client its org.
    tokens: TokenStore
    orgs: dict[str, OrgState]
    push: PushHub

    @property
    def first(self) -> OrgState:
        return next(iter(self.orgs.values()))

    def org_state(self, client_id: str | None = None) -> OrgState:
        """The org of `client_id` (the first org for None); KeyError naming an unknown one."""
        if client_id is None:
            return self.first
        found = self.orgs.get(client_id)
        if found is None:
            raise KeyError(f"no simulated org has client id {client_id!r}")
        return found

    @property
    def org(self) -> Org:
        return self.first.org

    @property
    def engine(self) -> Engine:
        return self.first.engine

    @property
    def limiter(self) -> RateLimiter:
        return self.first.limiter

    @property
    def faults(self) -> FaultInjector:
        return self.first.faults

    @property
    def stats(self) -> SimulatorStats:
        return self.first.stats

    @property
    def renames(self) -> dict[str, str]:
        return self.first.renames


STATE = web.AppKey("simulator_state", SimulatorState)
CLIENT_ID = web.RequestKey("simulator_client_id", str)  # set once the caller is known
ORG = web.RequestKey("simulator_org", OrgState)  # set once the caller's org is known
RESET = web.RequestKey("simulator_reset", bool)  # set when a reset fault closed the connection


def build_simulator_app(
    settings: SimulatorSettings,
    *,
    clock: Clock = time.time,
    rng: random.Random | None = None,
    sleep: Sleep = asyncio.sleep,
    push_wait: Wait | None = None,
) -> web.Application:
    """The simulator app. `clock` drives tokens, rate limits, storms and which data exists;
    `rng` draws the first org's faults (default: seeded from `settings.seed`; every other org
    draws from its own seed); `sleep` serves latency; `push_wait` paces the push publisher's
    ticks (default: a real second each; `PushHub.tick` runs one by hand)."""
    orgs: dict[str, OrgState] = {}
    for index, own in enumerate(settings.org_settings()):
        org = Org(own.seed, own.flows)
        draws = rng if rng is not None and index == 0 else random.Random(own.seed)
        state_of_org = OrgState(
            settings=own,
            org=org,
            engine=Engine(org, lag_ms=round(own.lag * 1000), client_id=own.client_id),
            limiter=RateLimiter(own.requests_per_minute),
            faults=FaultInjector(own.faults, clock, draws, own.client_id),
        )
        state_of_org.push = PushOrg(
            own.client_id, state_of_org.engine, own.lag, functools.partial(_busy, state_of_org)
        )
        state_of_org.push.channels.lacks_permission = functools.partial(
            state_of_org.faults.forbids, "aggregates"
        )
        orgs[own.client_id] = state_of_org
    hub = PushHub(
        [o.push for o in orgs.values() if o.push is not None], settings.push, clock, push_wait
    )
    for org_state in orgs.values():
        _install_flow_faults(org_state, hub, org_state.settings.flow_faults, clock())
    state = SimulatorState(
        settings=settings,
        clock=clock,
        sleep=sleep,
        tokens=TokenStore(settings.token_ttl),
        orgs=orgs,
        push=hub,
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
    app.router.add_get("/simulator/flows/faults", _get_flow_faults)
    app.router.add_put("/simulator/flows/{flow_id}/fault", _put_flow_fault)
    app.router.add_delete("/simulator/flows/{flow_id}/fault", _delete_flow_fault)
    app.router.add_get("/simulator/flows/publishes", _get_publishes)
    app.router.add_put("/simulator/flows/{flow_id}/publish", _put_publish)
    app.router.add_delete("/simulator/flows/{flow_id}/publish", _delete_publish)
    app.router.add_put("/simulator/names", _put_names)
    app.router.add_post("/simulator/truth", _post_truth)
    add_push_routes(app, hub, _admit_push, lambda client, ident: _flow_id(orgs[client], ident))
    app.on_shutdown.append(_stop_push)
    return app


async def _stop_push(app: web.Application) -> None:
    await app[STATE].push.stop()


async def _admit_push(request: web.Request) -> tuple[str, float]:
    """The gateway's checks for a channel call: token and rate budget; no permission (the
    channel calls need none, each topic checks its own)."""
    org, now = await _admit(request, "notifications", None)
    return org.client_id, now


def _flow_id(org: OrgState, ident: str) -> str | None:
    flow = find_flow(org.org, ident)
    return flow.id if flow is not None else None


def state_of(app: web.Application) -> SimulatorState:
    return app[STATE]


def find_flow(org: Org, ident: str) -> Flow | None:
    """The flow with this id, or at this index in the org."""
    found = org.by_id.get(ident)
    if found is None and ident.isdigit() and int(ident) < len(org.flows):
        found = org.flows[int(ident)]
    return found


def _install_flow_faults(
    org: OrgState,
    hub: PushHub,
    specs: tuple[FlowFaultSpec | PublishSpec | PushFaultSpec, ...],
    now: float,
) -> None:
    problems = []
    for spec in specs:
        if isinstance(spec, PushFaultSpec) and spec.fault != "forbid":
            at = spec.at if spec.at is not None else now + spec.delay
            hub.schedule(spec.fault, at, org.client_id)
            continue
        assert spec.flow is not None
        flow = find_flow(org.org, spec.flow)
        if flow is None:
            if isinstance(spec, PublishSpec):
                item = f"publish:{spec.flow}"
            elif isinstance(spec, PushFaultSpec):
                item = f"push-forbid={spec.flow}"
            else:
                item = f"{spec.kind}={spec.flow}"
            problems.append(
                f"faults: {item}: no flow has that id, and the org's flows are "
                f"numbered 0 to {len(org.org.flows) - 1}"
            )
            continue
        if isinstance(spec, PushFaultSpec):
            hub.org(org.client_id).channels.forbidden.add(flow.id)
            continue
        at = spec.at if spec.at is not None else now + spec.delay
        if isinstance(spec, PublishSpec):
            org.engine.set_publish(flow.id, Publish(round(at * 1000), spec.worse))
            continue
        factor = spec.factor if spec.kind == "slow" else DEFAULT_FACTOR
        org.engine.set_flow_fault(flow.id, FlowFault(spec.kind, round(at * 1000), factor))
    if problems:
        raise SimulatorSettingsError(problems)


# -- envelope: correlation id, rate-limit headers, Genesys error bodies, stats ----------------


@web.middleware
async def _genesys_envelope(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    state = request.app[STATE]
    resource = request.match_info.route.resource
    socket = resource is not None and resource.canonical == SOCKET_PATH
    if request.path.startswith(CONTROL_PREFIX) or socket:
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
    org = request.get(ORG, state.first)
    now = state.clock()
    status = RESET_STATUS if request.get(RESET, False) else response.status
    org.stats.record(RequestRecord(arrived, _stats_path(request), status, client, retry_after))
    budget = org.limiter.peek(client, now)
    response.headers[contract.CORRELATION_HEADER] = context_id
    response.headers["inin-ratelimit-count"] = str(budget.count)
    response.headers["inin-ratelimit-allowed"] = str(budget.allowed)
    response.headers["inin-ratelimit-reset"] = str(budget.reset)
    return response


def _stats_path(request: web.Request) -> str:
    """The path a request is counted under: a channel call's route, not its channel id (a
    capability, and one count per channel would grow without bound)."""
    resource = request.match_info.route.resource
    if resource is not None and request.path.startswith(NOTIFICATIONS_PREFIX):
        return resource.canonical
    return request.path


_HTTP_CODES = {
    404: ("not.found", "The requested resource was not found."),
    405: ("bad.request", "The requested HTTP method is not allowed for this resource."),
    413: ("request.entity.too.large", ""),
}


# -- OAuth ------------------------------------------------------------------------------------


async def _token(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    credentials = basic_credentials(request.headers.get("Authorization"))
    # The client id picks the org whose faults apply; one nobody knows meets the first org's.
    org = state.orgs.get(credentials[0], state.first) if credentials else state.first
    request[ORG] = org
    faults = org.faults.settings
    if faults.latency > 0:
        await state.sleep(faults.latency)
    if faults.token_down:
        code, message = SERVER_ERRORS[503]
        raise GenesysError(503, code, message)
    login_storm = org.faults.login_retry_after(state.clock())
    if login_storm is not None:
        raise rate_limited(login_storm)
    if credentials is None:
        raise OAuthError(401, "invalid_client", "client credentials were not supplied")
    client_id, secret = credentials
    settings = org.settings
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
    ttl = state.settings.token_ttl
    return json_response(
        {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": int(ttl) if float(ttl).is_integer() else ttl,
        }
    )


# -- analytics --------------------------------------------------------------------------------


async def _admit(
    request: web.Request, endpoint: str, permission: str | None
) -> tuple[OrgState, float]:
    """The gateway's checks every API request passes: latency, token, 429s, permission (none
    for None). Returns the org the token authorises and the clock's now."""
    state = request.app[STATE]
    token = bearer_token(request.headers.get("Authorization"))
    # Whose latency applies is known before the token's expiry is: the client it was issued to.
    owner = state.tokens.owner(token) if token is not None else None
    org = state.orgs.get(owner, state.first) if owner is not None else state.first
    request[ORG] = org
    faults = org.faults
    if faults.settings.latency > 0:
        await state.sleep(faults.settings.latency)
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
    budget = org.limiter.admit(client, now)
    if not budget.admitted:
        raise rate_limited(budget.reset)
    if permission is not None and faults.forbids(endpoint):
        raise missing_permission(permission)
    return org, now


async def _listing(request: web.Request) -> web.StreamResponse:
    kind = LISTING_KINDS[request.path]
    org, _ = await _admit(request, kind, LISTING_PERMISSIONS[kind])
    query = dict(request.query)
    deleted = query.get("deleted", "false").lower() == "true"
    published = org.engine.published_versions(round(state_of(request.app).clock() * 1000))
    items = entities(org.org, kind, org.renames, deleted, published)
    return json_response(page(request.path, query, items))


async def _analytics(request: web.Request) -> web.StreamResponse:
    endpoint = ENDPOINTS[request.path]
    org, now = await _admit(request, endpoint, PERMISSIONS[endpoint])
    fault = org.faults.draw()
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
    if org.busy is None:
        org.busy = asyncio.Lock()
    async with org.busy:
        # Large orgs take a while to answer; a thread keeps the event loop (and, in the demo,
        # the daemon sharing it) responsive meanwhile.
        if endpoint == "aggregates":
            query = validate_aggregate(body)
            payload = await asyncio.to_thread(_encode, org.engine.aggregate, query, now_ms)
        else:
            obs_query = validate_observation(body)
            payload = await asyncio.to_thread(_encode, org.engine.observe, obs_query, now_ms)
    return _spoil(payload, fault, org.faults.settings.huge_size)


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


def _target(request: web.Request) -> OrgState:
    """The org a control request acts on: `?client_id=`, else the first org."""
    state = request.app[STATE]
    client_id = request.query.get("client_id")
    try:
        return state.org_state(client_id)
    except KeyError:
        known = ", ".join(state.orgs)
        raise web.HTTPNotFound(
            text=json.dumps(
                {
                    "message": f"no simulated org has client id {client_id!r}; known: {known}",
                    "code": "not.found",
                    "status": 404,
                }
            ),
            content_type="application/json",
        ) from None


async def _get_faults(request: web.Request) -> web.StreamResponse:
    return json_response(_target(request).faults.settings.to_json())


async def _put_faults(request: web.Request) -> web.StreamResponse:
    org = _target(request)
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
    org.faults.set(faults)
    return json_response(faults.to_json())


async def _delete_faults(request: web.Request) -> web.StreamResponse:
    org = _target(request)
    org.faults.set(parse_fault_spec(""))
    return json_response(org.faults.settings.to_json())


def _bad_request(message: str) -> web.Response:
    return json_response({"message": message, "code": "bad.request", "status": 400}, status=400)


def _target_flow(request: web.Request) -> tuple[OrgState, Flow]:
    """The org and flow a `/simulator/flows/{flow_id}/...` request names (404 when unknown)."""
    org = _target(request)
    ident = request.match_info["flow_id"]
    flow = find_flow(org.org, ident)
    if flow is None:
        raise web.HTTPNotFound(
            text=json.dumps(
                {
                    "message": f"no simulated flow has id {ident!r}; give a flow id or an "
                    f"index from 0 to {len(org.org.flows) - 1} (see GET /simulator/org)",
                    "code": "not.found",
                    "status": 404,
                }
            ),
            content_type="application/json",
        )
    return org, flow


def _flow_fault_json(flow: Flow, fault: FlowFault | None) -> dict[str, object]:
    out: dict[str, object] = {"flow_id": flow.id, "flow_name": flow.name, "index": flow.index}
    out.update(fault.to_json() if fault is not None else {"fault": None})
    return out


def _flow_fault_from_json(body: object, now: float) -> FlowFault | str:
    """The body of `PUT /simulator/flows/{flow_id}/fault` as a FlowFault, or its problem."""
    if not isinstance(body, dict):
        return 'flow fault: expected a JSON object such as {"fault": "stop", "at": 1700000000}'
    unknown = sorted(set(body) - {"fault", "at", "factor"})
    if unknown:
        return f"flow fault: unknown keys {', '.join(map(repr, unknown))}; known: fault, at, factor"
    kind = body.get("fault")
    factor = body.get("factor", DEFAULT_FACTOR)
    problem = fault_problem(kind, factor)
    if problem:
        return f"flow fault: {problem}"
    at = body.get("at", now)
    if isinstance(at, bool) or not isinstance(at, int | float) or not math.isfinite(at) or at < 0:
        return f"flow fault: at {at!r}: expected epoch seconds (a number), default now"
    assert isinstance(kind, str)
    assert isinstance(factor, int | float)
    return FlowFault(kind, round(at * 1000), float(factor) if kind == "slow" else DEFAULT_FACTOR)


async def _put_flow_fault(request: web.Request) -> web.StreamResponse:
    """Break one flow from a moment on: `{"fault": KIND, "at": EPOCH_SECONDS, "factor": N}`."""
    org, flow = _target_flow(request)
    try:
        body = json.loads(await request.read())
    except ValueError:
        return _bad_request("flow fault: the body is not JSON")
    fault = _flow_fault_from_json(body, request.app[STATE].clock())
    if isinstance(fault, str):
        return _bad_request(fault)
    # The engine's caches are not thread-safe: wait for a query in the worker thread to end.
    async with _busy(org):
        org.engine.set_flow_fault(flow.id, fault)
    return json_response(_flow_fault_json(flow, fault))


async def _delete_flow_fault(request: web.Request) -> web.StreamResponse:
    org, flow = _target_flow(request)
    async with _busy(org):
        org.engine.set_flow_fault(flow.id, None)
    return json_response(_flow_fault_json(flow, None))


async def _get_flow_faults(request: web.Request) -> web.StreamResponse:
    org = _target(request)
    faults = org.engine.flow_faults()
    return json_response(
        {"faults": [_flow_fault_json(org.org.by_id[i], f) for i, f in faults.items()]}
    )


def _publish_json(flow: Flow, publish: Publish | None) -> dict[str, object]:
    out: dict[str, object] = {"flow_id": flow.id, "flow_name": flow.name, "index": flow.index}
    if publish is None:
        out.update({"version": flow.version, "publish": None})
    else:
        out.update({"version": flow.next_version, "previous_version": flow.version})
        out.update(publish.to_json())
    return out


def _publish_from_json(body: object, now: float) -> Publish | str:
    """The body of `PUT /simulator/flows/{flow_id}/publish` as a Publish, or its problem."""
    if not isinstance(body, dict):
        return 'publish: expected a JSON object such as {"at": 1700000000, "worse": true}'
    unknown = sorted(set(body) - {"at", "worse"})
    if unknown:
        return f"publish: unknown keys {', '.join(map(repr, unknown))}; known: at, worse"
    worse = body.get("worse", False)
    if not isinstance(worse, bool):
        return f"publish: worse {worse!r}: expected true or false"
    at = body.get("at", now)
    if isinstance(at, bool) or not isinstance(at, int | float) or not math.isfinite(at) or at < 0:
        return f"publish: at {at!r}: expected epoch seconds (a number), default now"
    return Publish(round(at * 1000), worse)


async def _put_publish(request: web.Request) -> web.StreamResponse:
    """Publish a flow's next version from a moment on: `{"at": EPOCH_SECONDS, "worse": BOOL}`
    (both optional: now, not worse). Publishing again replaces the moment and `worse`."""
    org, flow = _target_flow(request)
    raw = await request.read()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return _bad_request("publish: the body is not JSON")
    publish = _publish_from_json(body, request.app[STATE].clock())
    if isinstance(publish, str):
        return _bad_request(publish)
    async with _busy(org):
        org.engine.set_publish(flow.id, publish)
    return json_response(_publish_json(flow, publish))


async def _delete_publish(request: web.Request) -> web.StreamResponse:
    """Undo a flow's publish: its executions run its own version again, at every time."""
    org, flow = _target_flow(request)
    async with _busy(org):
        org.engine.set_publish(flow.id, None)
    return json_response(_publish_json(flow, None))


async def _get_publishes(request: web.Request) -> web.StreamResponse:
    org = _target(request)
    publishes = org.engine.publishes()
    return json_response(
        {"publishes": [_publish_json(org.org.by_id[i], p) for i, p in publishes.items()]}
    )


def _busy(org: OrgState) -> asyncio.Lock:
    if org.busy is None:
        org.busy = asyncio.Lock()
    return org.busy


async def _get_stats(request: web.Request) -> web.StreamResponse:
    return json_response(_target(request).stats.to_json())


async def _get_org(request: web.Request) -> web.StreamResponse:
    return json_response(org_summary(_target(request).org))


async def _put_names(request: web.Request) -> web.StreamResponse:
    """Rename flows, outcomes or milestones in the listings: a JSON object {id: new name}."""
    org = _target(request)
    try:
        body = json.loads(await request.read())
    except ValueError:
        body = None
    known = {f.id for f in org.org.flows}
    known |= {e.id for e in (*org.org.outcomes, *org.org.milestones)}
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
    org.renames.update(body)
    return json_response(dict(org.renames))


async def _post_truth(request: web.Request) -> web.StreamResponse:
    """The ground truth for an aggregate query body (no token, no faults, no rate budget): the
    answer once every metric of its interval is visible, whatever the clock says. For tests that
    run the simulator as a separate process (`simulate`)."""
    org = _target(request)
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
    if org.busy is None:
        org.busy = asyncio.Lock()
    async with org.busy:
        payload = await asyncio.to_thread(_encode, _truth_of(org.engine), query, 0)
    return web.Response(body=payload, status=200, content_type="application/json")


def _truth_of(engine: Engine) -> Callable[[Any, int], object]:
    return lambda query, _now: engine.truth(query)


def org_summary(org: Org) -> dict[str, object]:
    """The synthetic org as JSON: what a test needs to write filters and expected labels, and
    each flow's mean entries per hour over a week (to pick flows by volume)."""
    gone = deleted_flow_ids(org)
    return {
        "divisions": [{"id": d.id, "name": d.name} for d in org.divisions],
        "flows": [
            {
                "id": f.id,
                "index": f.index,
                "name": f.name,
                "entries_per_hour": round(entries_per_hour(f), 3),
                "type": f.type,
                "mediaType": f.media_type,
                "version": f.version,
                "nextVersion": f.next_version,
                "divisionId": f.division_id,
                "deleted": f.id in gone,
                "outcomes": [{"id": o.outcome.id, "name": o.outcome.name} for o in f.outcomes],
                "milestones": [
                    {"id": m.milestone.id, "name": m.milestone.name} for m in f.milestones
                ],
                "transferTargets": [
                    {"type": TRANSFER_TARGETS[t].type, "name": TRANSFER_TARGETS[t].name}
                    for t in f.targets
                ],
                "recognitionFailureShare": round(f.recognition, 4),
            }
            for f in org.flows
        ],
    }
