"""Command line: run, check-config, once, demo, simulate."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from poller import __version__
from poller.errors import ConfigError, PollerError
from poller.shard import Shard, ShardError, parse_shard

if TYPE_CHECKING:
    from poller.config.model import Config, Credentials, GenesysSettings
    from poller.config.webconfig import WebConfig
    from poller.simulator import FaultSettings
    from poller.simulator.flowfaults import FlowFaultSpec
    from poller.simulator.publishing import PublishSpec
    from poller.simulator.pushsettings import PushFaultSpec

DEFAULT_CONFIG = "config/poller.yaml"
DEMO_LISTEN = "127.0.0.1:9864"
SIMULATOR_LISTEN = "127.0.0.1:9865"


def _config_path(args: argparse.Namespace, env: Mapping[str, str]) -> str:
    return str(args.config or env.get("POLLER_CONFIG") or DEFAULT_CONFIG)


def demo_config_path() -> Path:
    """config/demo.yaml from a source checkout, or the copy the wheel carries."""
    packaged = Path(__file__).parent / "data" / "demo.yaml"
    if packaged.is_file():
        return packaged
    return Path(__file__).resolve().parent.parent / "config" / "demo.yaml"


def parser() -> argparse.ArgumentParser:
    """The whole command line. Every flag's help ends with "(default: ...)", which the README's
    flag table repeats (tests/cli/test_commands_table.py compares the two)."""
    p = argparse.ArgumentParser(
        prog="genesyscloud-poller",
        description="Polls Genesys Cloud flow analytics and serves them as Prometheus metrics.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def logging_flags(cmd: argparse.ArgumentParser, stream: str = "stdout") -> None:
        cmd.add_argument(
            "--log.level",
            dest="log_level",
            default="info",
            choices=["debug", "info", "warning", "error"],
            metavar="LEVEL",
            help="the least severe events logged: debug, info, warning or error "
            "(default: %(default)s)",
        )
        cmd.add_argument(
            "--log.format",
            dest="log_format",
            choices=["json", "console"],
            metavar="json|console",
            help=f"how log events are written to {stream} "
            f"(default: json when {stream} is not a terminal, console otherwise)",
        )

    def lifecycle_flag(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument(
            "--web.enable-lifecycle",
            dest="enable_lifecycle",
            action="store_true",
            help="allow POST /-/reload; without it the endpoint answers 403, and SIGHUP reloads "
            "either way (default: off)",
        )

    def web_config_flag(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument(
            "--web.config.file",
            dest="web_config",
            metavar="PATH",
            help="exporter-toolkit web config file: TLS and basic auth "
            "(default: none, plain HTTP without auth)",
        )

    def config_flag(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument(
            "--config",
            metavar="PATH",
            help=f"the YAML config (default: $POLLER_CONFIG, then {DEFAULT_CONFIG})",
        )

    def org_flags(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument(
            "--seed",
            type=int,
            default=1,
            metavar="N",
            help="the simulated traffic's seed: the same seed, the same traffic "
            "(default: %(default)s)",
        )
        cmd.add_argument(
            "--flows",
            type=_org_size,
            default=DEFAULT_FLOWS,
            metavar="N",
            help=FLOWS_HELP,
        )

    run = sub.add_parser("run", help="poll on schedule and serve /metrics")
    config_flag(run)
    run.add_argument(
        "--web.listen-address",
        dest="listen",
        metavar="HOST:PORT",
        help="the address to serve on (default: server.listen from the config)",
    )
    web_config_flag(run)
    lifecycle_flag(run)
    run.add_argument(
        "--shard.index",
        dest="shard_index",
        metavar="N|auto",
        help="this replica's shard, 0 to M-1, or auto for a StatefulSet pod's ordinal "
        "(default: $POLLER_SHARD_INDEX, then 0)",
    )
    run.add_argument(
        "--shard.count",
        dest="shard_count",
        metavar="M",
        help="how many replicas split the orgs between them (default: $POLLER_SHARD_COUNT, then 1)",
    )
    logging_flags(run)

    check = sub.add_parser("check-config", help="validate a config and print its query plan")
    config_flag(check)
    check.add_argument(
        "--login",
        action="store_true",
        help="also log in to Genesys Cloud once with the credentials and report (no polling); "
        "with orgs:, once per org (default: off)",
    )
    check.add_argument(
        "--shard.count",
        dest="shard_count",
        type=_shard_count,
        metavar="M",
        help="also print which orgs each of M shards (replicas) polls (default: none)",
    )
    logging_flags(check, "stderr")

    once = sub.add_parser("once", help="run every query once and print the metrics")
    config_flag(once)
    logging_flags(once, "stderr")

    demo = sub.add_parser("demo", help="run the daemon against the built-in simulator")
    demo.add_argument(
        "--web.listen-address",
        dest="listen",
        default=DEMO_LISTEN,
        metavar="HOST:PORT",
        help="the address the daemon serves on (default: %(default)s)",
    )
    demo.add_argument(
        "--simulator.listen-address",
        dest="sim_listen",
        default=SIMULATOR_LISTEN,
        metavar="HOST:PORT",
        help="the address the simulated Genesys Cloud serves on (default: %(default)s)",
    )
    org_flags(demo)
    web_config_flag(demo)
    lifecycle_flag(demo)
    logging_flags(demo)

    sim = sub.add_parser(
        "simulate", help="run the Genesys Cloud simulator alone", formatter_class=_SimulatorHelp
    )
    sim.add_argument(
        "--listen-address",
        dest="sim_listen",
        default=SIMULATOR_LISTEN,
        metavar="HOST:PORT",
        help="the address to serve on (default: %(default)s)",
    )
    org_flags(sim)
    sim.add_argument(
        "--orgs",
        type=_org_count,
        default=1,
        metavar="N",
        help=f"orgs to serve, 1 to {MAX_ORGS_MARK}, one per OAuth client; org k has client id "
        "and secret suffixed -k and its own data, rate budget and faults (default: %(default)s)",
    )
    sim.add_argument(
        "--faults",
        type=_fault_spec,
        default="",
        metavar="SPEC",
        help="fault injection spec, e.g. 503=0.2,latency=200ms; per-flow faults are items "
        "KIND=FLOW[xFACTOR][@+DELAY|@EPOCH_SECONDS], KIND one of stop, fail, hangup, slow, "
        "milestone-drop, FLOW a flow id or index, e.g. stop=3@+5m,slow=7x4@+10m; publishing a "
        "flow's next version is publish:FLOW[:worse][@WHEN], e.g. publish:3:worse@+10m; push "
        "faults are push-drop@WHEN, push-closing@WHEN, push-unsubscribed@WHEN, "
        "push-revoked@WHEN, push-silent@WHEN, push-expired@WHEN and push-forbid=FLOW (see "
        "README) (default: none)",
    )
    sim.add_argument(
        "--lag",
        type=_lag,
        default=None,
        metavar="SECONDS",
        help="seconds between a metric's moment and its being visible to aggregate queries, "
        "Genesys' indexing lag (default: 5)",
    )
    sim.add_argument(
        "--push-deltas",
        action="store_true",
        help="push messages carry the change since the topic's previous message instead of "
        "the interval's running total (default: off)",
    )
    sim.add_argument(
        "--push-interval",
        type=_push_interval,
        default=None,
        metavar="15m|30m|60m",
        help="the interval the push messages aggregate over (default: 30m)",
    )
    sim.add_argument(
        "--push-heartbeat",
        type=_push_heartbeat,
        default=None,
        metavar="DURATION",
        help="time between the notification sockets' heartbeats, e.g. 5s or 1m (default: 30s)",
    )
    logging_flags(sim)
    return p


def subcommands(p: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """{command: its parser}, in the order `--help` lists them."""
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


DEFAULT_FLOWS = 20
MAX_FLOWS = 5000
FLOWS_HELP = (
    f"flows in the simulated org, 1 to {MAX_FLOWS}; a large org answers with many series, e.g. "
    "to try the poller at the size of a large contact centre (default: %(default)s)"
)


def _whole_number(what: str, top: int) -> Callable[[str], int]:
    """An argparse type: a whole number of `what` from 1 to `top`, else a usage error."""

    def parse(text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            number = 0
        if not 1 <= number <= top:
            raise argparse.ArgumentTypeError(
                f"expected a whole number of {what} from 1 to {top}, got {text!r}"
            )
        return number

    return parse


_org_size = _whole_number("flows", MAX_FLOWS)

MAX_ORGS_MARK = "{max_orgs}"  # in simulate's help: the simulator's MAX_ORGS


def _org_count(text: str) -> int:
    from poller.simulator.settings import MAX_ORGS

    return _whole_number("orgs", MAX_ORGS)(text)


class _SimulatorHelp(argparse.HelpFormatter):
    """simulate's help, whose bounds are the simulator's own. They are read when needed only:
    importing the simulator would slow every other command's start."""

    def _expand_help(self, action: argparse.Action) -> str:
        from poller.simulator.settings import MAX_ORGS

        return super()._expand_help(action).replace(MAX_ORGS_MARK, str(MAX_ORGS))


def _shard_count(text: str) -> int:
    from poller.shard import ShardError, parse_shard

    try:
        # Index 0 exists for every valid count, so only the count is checked.
        return parse_shard("0", text, "").count
    except ShardError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _lag(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 3600:
        raise argparse.ArgumentTypeError(f"expected seconds from 0 to 3600, got {text!r}")
    return seconds


def _push_interval(text: str) -> float:
    from poller.simulator.pushsettings import parse_interval_name

    seconds = parse_interval_name(text)
    if seconds is None:
        raise argparse.ArgumentTypeError(f"expected 15m, 30m or 60m, got {text!r}")
    return seconds


def _push_heartbeat(text: str) -> float:
    from poller.simulator.pushsettings import parse_heartbeat

    seconds = parse_heartbeat(text)
    if seconds is None:
        raise argparse.ArgumentTypeError(
            f"expected a duration from 1s to 24h such as 5s or 1m, got {text!r}"
        )
    return seconds


def _fault_spec(
    text: str,
) -> tuple[FaultSettings, tuple[FlowFaultSpec | PublishSpec | PushFaultSpec, ...]]:
    """A bad spec is a usage error (exit 2) that lists every problem, like a bad --flows."""
    from poller.simulator import SimulatorSettingsError
    from poller.simulator.settings import parse_simulate_faults

    try:
        return parse_simulate_faults(text)
    except SimulatorSettingsError as exc:
        raise argparse.ArgumentTypeError(
            "; ".join(p.removeprefix("faults: ") for p in exc.problems)
        ) from None


def _err(message: str) -> None:
    print(f"genesyscloud-poller: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    args = parser().parse_args(argv)
    env = os.environ if env is None else env
    commands: dict[str, Callable[[argparse.Namespace, Mapping[str, str]], int]] = {
        "run": cmd_run,
        "check-config": cmd_check_config,
        "once": cmd_once,
        "demo": cmd_demo,
        "simulate": cmd_simulate,
    }
    try:
        return commands[args.command](args, env)
    except ConfigError as err:
        _err(f"invalid configuration:\n{err}")
        return 1
    except PollerError as err:
        _err(str(err))
        return 1
    except ShardError as err:
        _err(str(err))
        return 2
    except KeyboardInterrupt:
        return 130


def _setup_logging(args: argparse.Namespace, stream: TextIO | None = None) -> None:
    """Logs to stdout (default), or to `stream`: stderr for the commands whose stdout is their
    product, so that a pipe (`once | promtool check metrics`) carries nothing else."""
    from poller.logsetup import configure_logging

    configure_logging(args.log_level, args.log_format, stream)


def _web_config(args: argparse.Namespace) -> WebConfig | None:
    from poller.config.webconfig import load_web_config

    return load_web_config(args.web_config) if args.web_config else None


def cmd_check_config(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from poller import scope
    from poller.checkreport import format_report
    from poller.config import all_credentials, load_config

    _setup_logging(args, sys.stderr)
    config = load_config(_config_path(args, env), env)
    if args.shard_count is not None and not config.orgs:
        _err(
            "--shard.count: sharding splits the orgs of `orgs:` between replicas, and "
            f"{config.source} lists no orgs: (it polls one org); drop --shard.count"
        )
        return 1
    print(format_report(config))
    if args.shard_count is not None:
        print("\n" + _format_shards(config, args.shard_count))
    if not args.login:
        return 0
    from poller.genesys import GenesysClient
    from poller.selfmetrics import SelfMetrics

    credentials = all_credentials(config, env)

    async def login(settings: GenesysSettings, client_credentials: Credentials) -> float:
        client = GenesysClient(settings, client_credentials, SelfMetrics(process=False))
        try:
            return await client.login()
        finally:
            await client.close()

    failed: list[str] = []
    for org in config.org_list():
        creds = credentials[org.name]
        what = f"login to {org.genesys.login_base_url} as client {creds.client_id}"
        try:
            lifetime = asyncio.run(login(org.genesys, creds))
        except PollerError as err:
            if not scope.labelled(config):
                raise
            # One refused org must not hide how the others fare.
            _err(f"org {org.name}: {what}: {err}")
            failed.append(org.name)
            continue
        print(scope.line_about(org.name, f"{what}: ok, token valid for {lifetime:.0f}s"))
    if failed:
        _err(f"login failed for {len(failed)} of {len(config.orgs)} orgs: {', '.join(failed)}")
        return 1
    return 0


def _shard(args: argparse.Namespace, env: Mapping[str, str]) -> Shard:
    """The flags win over POLLER_SHARD_INDEX / POLLER_SHARD_COUNT; `auto` reads the hostname."""
    index = args.shard_index if args.shard_index is not None else env.get("POLLER_SHARD_INDEX")
    count = args.shard_count if args.shard_count is not None else env.get("POLLER_SHARD_COUNT")
    return parse_shard(index, count, env.get("HOSTNAME") or socket.gethostname())


def _format_shards(config: Config, count: int) -> str:
    from poller.shard import assignment

    shards = assignment((org.name for org in config.orgs), count)
    lines = [f"Shards: {count} (each org goes to one shard by rendezvous hashing of its name)"]
    for shard, orgs in shards.items():
        lines.append(f"  shard {shard}: {', '.join(orgs) if orgs else 'no orgs'}")
    return "\n".join(lines)


def cmd_run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from poller.config import load_config, org_credentials, parse_listen_address
    from poller.daemon import Daemon
    from poller.serving import LISTEN_FIX, run_until_signalled

    _setup_logging(args)
    shard = _shard(args, env)
    path = _config_path(args, env)
    config = load_config(path, env)
    web_config = _web_config(args)
    if args.listen:
        host, port = parse_listen_address(args.listen, where="--web.listen-address")
        in_use = LISTEN_FIX
    else:
        host, port = config.server.host, config.server.port
        in_use = f"change server.listen in {config.source}, or {LISTEN_FIX}"

    async def main_() -> int:
        daemon = Daemon(
            config,
            lambda org: org_credentials(org, env),
            loader=lambda: load_config(path, env),
            shard=shard,
        )
        return await run_until_signalled(
            daemon,
            host,
            port,
            web_config,
            enable_lifecycle=args.enable_lifecycle,
            in_use=in_use,
        )

    return asyncio.run(main_())


def cmd_once(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from poller.config import load_config, org_credentials
    from poller.daemon import Daemon

    _setup_logging(args, sys.stderr)
    config = load_config(_config_path(args, env), env)

    async def main_() -> int:
        daemon = Daemon(config, lambda org: org_credentials(org, env))
        try:
            results = await daemon.poll_all()
        finally:
            await daemon.stop()
        sys.stdout.buffer.write(b"".join(daemon.store.exposition().plain))
        sys.stdout.flush()
        failed = [name for name, ok in results.items() if not ok]
        if failed:
            _err(
                "queries failed:\n"
                + "\n".join(f"  {name}: {daemon.pollers[name].state.last_error}" for name in failed)
            )
            return 1
        return 0

    return asyncio.run(main_())


def cmd_demo(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from poller.binding import binding
    from poller.config import load_config, org_credentials, parse_listen_address
    from poller.daemon import Daemon
    from poller.serving import run_until_signalled
    from poller.simulator import Simulator, SimulatorSettings

    _setup_logging(args)
    host, port = parse_listen_address(args.listen, where="--web.listen-address")
    sim_host, sim_port = parse_listen_address(args.sim_listen, where="--simulator.listen-address")
    path = demo_config_path()
    # config/demo.yaml's orgs, in order (org k logs in as the simulator's org k); which they are
    # depends on no variable, and the ones that point at the simulator are not known yet.
    demo_orgs = load_config(path, {}).orgs
    settings = SimulatorSettings(seed=args.seed, flows=args.flows, orgs=len(demo_orgs))
    web_config = _web_config(args)

    async def main_() -> int:
        simulator = Simulator(settings)
        with binding(args.sim_listen, _demo_fix("--simulator.listen-address")):
            await simulator.start(sim_host, sim_port)
        try:
            demo_env = {
                **env,
                "GENESYS_API_BASE_URL": simulator.base_url,
                "GENESYS_LOGIN_BASE_URL": simulator.base_url,
            }
            # Each demo org logs in as one of the simulator's orgs, through the variables that
            # config/demo.yaml names, as a real deployment's orgs would.
            for org, (client_id, secret) in zip(demo_orgs, settings.org_clients(), strict=True):
                demo_env[org.credentials.client_id_env] = client_id
                demo_env[org.credentials.client_secret_env] = secret
            config = load_config(path, demo_env)
            daemon = Daemon(
                config,
                lambda org: org_credentials(org, demo_env),
                loader=lambda: load_config(path, demo_env),
            )
            scheme = "https" if web_config and web_config.ssl_context else "http"

            def announce(addresses: list[str]) -> None:
                base = f"{scheme}://{addresses[0] if addresses else f'{host}:{port}'}"
                orgs = " and ".join(org.name for org in demo_orgs)
                print(
                    f"genesyscloud-poller demo (simulated Genesys Cloud, seed {args.seed}, "
                    f"orgs {orgs} of {args.flows} flows each)\n"
                    f"  metrics:   {base}/metrics\n"
                    f"  status:    {base}/\n"
                    f"  readiness: {base}/readyz\n"
                    f"  simulator: {simulator.base_url}\n"
                    "Press Ctrl+C to stop.",
                    flush=True,
                )

            return await run_until_signalled(
                daemon,
                host,
                port,
                web_config,
                announce,
                enable_lifecycle=args.enable_lifecycle,
                in_use=_demo_fix("--web.listen-address"),
            )
        finally:
            await simulator.stop()

    return asyncio.run(main_())


def _demo_fix(flag: str) -> str:
    """How to move the demo's server behind `flag` elsewhere, run directly or by make."""
    return (
        f"choose a free address with {flag} HOST:PORT "
        f"(with make: make demo DEMO_ARGS='{flag} HOST:PORT')"
    )


def cmd_simulate(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from poller.binding import binding
    from poller.config import parse_listen_address
    from poller.simulator import Simulator, SimulatorSettings

    _setup_logging(args)
    host, port = parse_listen_address(args.sim_listen, where="--listen-address")
    faults, flow_faults = args.faults
    settings = SimulatorSettings(
        seed=args.seed, flows=args.flows, faults=faults, orgs=args.orgs, flow_faults=flow_faults
    )
    if args.lag is not None:
        settings = dataclasses.replace(settings, lag=args.lag)
    push = dataclasses.replace(settings.push, deltas=args.push_deltas)
    if args.push_interval is not None:
        push = dataclasses.replace(push, interval=args.push_interval)
    if args.push_heartbeat is not None:
        push = dataclasses.replace(push, heartbeat=args.push_heartbeat)
    settings = dataclasses.replace(settings, push=push)

    async def main_() -> int:
        import signal

        from poller.simulator import SimulatorSettingsError

        try:
            simulator = Simulator(settings)
        except SimulatorSettingsError as exc:
            _err("; ".join(p.removeprefix("faults: ") for p in exc.problems))
            return 2
        with binding(args.sim_listen, "choose a free address with --listen-address HOST:PORT"):
            await simulator.start(host, port)
        orgs = "" if args.orgs == 1 else f"{args.orgs} orgs of "
        clients = "".join(
            f"  client id: {client_id}  client secret: {secret}\n"
            for client_id, secret in settings.org_clients()
        )
        print(
            f"Genesys Cloud simulator on {simulator.base_url} (seed {args.seed}, "
            f"{orgs}{args.flows} flows)\n"
            f"{clients}"
            f"  GENESYS_API_BASE_URL={simulator.base_url} "
            f"GENESYS_LOGIN_BASE_URL={simulator.base_url}",
            flush=True,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await simulator.stop()
        return 0

    return asyncio.run(main_())
