"""The OAuth client credentials, read from the environment and never from the config file.

Each value comes from a variable (GENESYS_CLIENT_ID) or from the file another one names
(GENESYS_CLIENT_ID_FILE, as Kubernetes mounts secrets), never both. Problems name the variables
and never show a value.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from poller.config.model import Credentials, Secret
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
        try:
            value = Path(path).read_bytes().decode("utf-8")
        except OSError as exc:
            problems.append(f"{file_var}: cannot read {path}: {exc.strerror or type(exc).__name__}")
            return None
        except UnicodeDecodeError:
            problems.append(f"{file_var}: {path} is not UTF-8 text")
            return None
    assert value is not None
    # A trailing newline is an artefact of how the value was written, never part of it.
    stripped: str = value.rstrip("\r\n")
    if not stripped:
        problems.append(f"{file_var}: {path} is empty" if path else f"{name} is empty")
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
