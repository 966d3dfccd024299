"""The OAuth client credentials, read from the environment and never from the config file.

Each value comes from a variable (GENESYS_CLIENT_ID) or from the file another one names
(GENESYS_CLIENT_ID_FILE, as Kubernetes mounts secrets), never both. An org of `orgs:` names its
own variable or file for each (`client_id_env`, `client_secret_file`, ...). Problems name the
variables, files and org keys and never show a value.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from poller.config.model import Config, Credentials, CredentialSource, OrgConfig, Secret
from poller.errors import ConfigError


def _credential(env: Mapping[str, str], name: str, problems: list[str]) -> str | None:
    file_var = f"{name}_FILE"
    # An empty variable counts as unset: container runtimes often pass empty placeholders.
    value, path = env.get(name) or None, env.get(file_var) or None
    if value is not None and path is not None:
        problems.append(f"{name} and {file_var} are both set; set only one of them")
        return None
    if value is None and path is None:
        problems.append(f"{name} is not set; set {name}, or {file_var} to a file that holds it")
        return None
    if path is not None:
        return _read_file(path, file_var, problems)
    assert value is not None
    return _value(value, f"{name} is empty", problems)


def _read_file(path: str, label: str, problems: list[str]) -> str | None:
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as exc:
        problems.append(f"{label}: cannot read {path}: {exc.strerror or type(exc).__name__}")
        return None
    except UnicodeDecodeError:
        problems.append(f"{label}: {path} is not UTF-8 text")
        return None
    return _value(text, f"{label}: {path} is empty", problems)


def _value(text: str, empty: str, problems: list[str]) -> str | None:
    # A trailing newline is an artefact of how the value was written, never part of it.
    stripped = text.rstrip("\r\n")
    if not stripped:
        problems.append(empty)
        return None
    return stripped


def load_credentials(env: Mapping[str, str]) -> Credentials:
    """The OAuth client from GENESYS_CLIENT_ID / GENESYS_CLIENT_SECRET, or from the files named
    by GENESYS_CLIENT_ID_FILE / GENESYS_CLIENT_SECRET_FILE (trailing newline stripped).

    Raises ConfigError (source "environment") naming the variables; never shows a value.
    """
    problems: list[str] = []
    client_id = _credential(env, "GENESYS_CLIENT_ID", problems)
    client_secret = _credential(env, "GENESYS_CLIENT_SECRET", problems)
    if problems:
        raise ConfigError(problems, source="environment")
    assert client_id is not None
    assert client_secret is not None
    return Credentials(client_id=client_id, client_secret=Secret(client_secret))


def _org_credential(
    place: str, env: Mapping[str, str], what: str, var: str, path: str, problems: list[str]
) -> str | None:
    """The value of `what` (client_id or client_secret) from variable `var` or file `path`."""
    env_key, file_key = f"{what}_env", f"{what}_file"
    if var and path:
        problems.append(f"{place}: {env_key} and {file_key} are both set; set only one of them")
        return None
    if path:
        return _read_file(path, f"{place}.{file_key}", problems)
    if not var:
        problems.append(f"{place}: neither {env_key} nor {file_key} is set")
        return None
    value = env.get(var)
    if value is None:
        problems.append(f"{place}.{env_key}: {var} is not set")
        return None
    return _value(value, f"{place}.{env_key}: {var} is empty", problems)


def org_credentials(org: OrgConfig, env: Mapping[str, str]) -> Credentials:
    """The OAuth client of `org`, from the variables or files its config names; the unnamed
    org of a config without `orgs:` (no source named) reads them as `load_credentials` does.

    Raises ConfigError (source "environment") naming the org and its key, e.g.
    `orgs[acme].client_secret_env: ACME_SECRET is not set`; never shows a value.
    """
    if org.credentials == CredentialSource():
        return load_credentials(env)
    source, place = org.credentials, f"orgs[{org.name}]"
    problems: list[str] = []
    client_id = _org_credential(
        place, env, "client_id", source.client_id_env, source.client_id_file, problems
    )
    client_secret = _org_credential(
        place, env, "client_secret", source.client_secret_env, source.client_secret_file, problems
    )
    if problems:
        raise ConfigError(problems, source="environment")
    assert client_id is not None
    assert client_secret is not None
    origin = " and ".join(
        f"{place}.{what}_file ({path})" if path else f"{place}.{what}_env ({var})"
        for what, var, path in (
            ("client_id", source.client_id_env, source.client_id_file),
            ("client_secret", source.client_secret_env, source.client_secret_file),
        )
    )
    return Credentials(client_id=client_id, client_secret=Secret(client_secret), origin=origin)


def all_credentials(config: Config, env: Mapping[str, str]) -> dict[str, Credentials]:
    """{org name: its OAuth client} for every org of `config.org_list()` ("" for the unnamed
    org); one ConfigError (source "environment") lists every org's problems."""
    out: dict[str, Credentials] = {}
    problems: list[str] = []
    for org in config.org_list():
        try:
            out[org.name] = org_credentials(org, env)
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        raise ConfigError(problems, source="environment")
    return out
