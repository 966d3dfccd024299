"""Environment: region and base-URL overrides, and credentials from variables or files."""

from __future__ import annotations

from pathlib import Path

import pytest

from poller.config import load_credentials, parse_config
from poller.config.model import Secret
from poller.errors import ConfigError
from tests.support.config import aggregate, poller_yaml

FLOWS = aggregate("flows", every="60s")
CONFIG = poller_yaml(FLOWS)
NO_REGION = poller_yaml(FLOWS, region=None, timeout="10s")
SECRET = "s3cr3t-value-never-shown"


@pytest.mark.parametrize(
    ("region", "api", "login"),
    [
        ("mypurecloud.ie", "https://api.mypurecloud.ie", "https://login.mypurecloud.ie"),
        ("eu_west_1", "https://api.mypurecloud.ie", "https://login.mypurecloud.ie"),
        ("us_east_1", "https://api.mypurecloud.com", "https://login.mypurecloud.com"),
        ("ap_southeast_2", "https://api.mypurecloud.com.au", "https://login.mypurecloud.com.au"),
        ("usw2.pure.cloud", "https://api.usw2.pure.cloud", "https://login.usw2.pure.cloud"),
        (
            "eusc_de_east_1",
            "https://api.edee1.eusc-pure.cloud",
            "https://login.edee1.eusc-pure.cloud",
        ),
    ],
)
def test_region_names_and_domains_give_the_same_hosts(region: str, api: str, login: str) -> None:
    """A region written as a domain or as its SDK name yields api.<domain> and login.<domain>."""
    config = parse_config(poller_yaml(FLOWS, region=region), env={})
    assert (config.genesys.api_base_url, config.genesys.login_base_url) == (api, login)
    assert config.genesys.region == api.removeprefix("https://api.")


def test_genesys_region_env_replaces_the_file() -> None:
    """GENESYS_REGION wins over genesys.region."""
    config = parse_config(CONFIG, env={"GENESYS_REGION": "eu_central_1"})
    assert config.genesys.region == "mypurecloud.de"
    assert config.genesys.api_base_url == "https://api.mypurecloud.de"
    assert config.genesys.login_base_url == "https://login.mypurecloud.de"


def test_unknown_genesys_region_env_is_reported_without_a_line() -> None:
    """A bad GENESYS_REGION is named as the variable, with a suggestion and no file line."""
    with pytest.raises(ConfigError) as caught:
        parse_config(CONFIG, source="poller.yaml", env={"GENESYS_REGION": "mypurecloud.iee"})
    problem = (
        "GENESYS_REGION: unknown region 'mypurecloud.iee' (did you mean 'mypurecloud.ie'?); use "
        "a region domain such as mypurecloud.ie or an SDK region name such as eu_west_1"
    )
    assert caught.value.problems == [problem]
    assert str(caught.value) == f"poller.yaml: {problem}"


def test_base_url_envs_replace_the_hosts_without_trailing_slash() -> None:
    """GENESYS_API_BASE_URL / GENESYS_LOGIN_BASE_URL replace the hosts; a trailing / is cut."""
    env = {
        "GENESYS_API_BASE_URL": "http://127.0.0.1:9865/",
        "GENESYS_LOGIN_BASE_URL": "http://127.0.0.1:9866",
    }
    config = parse_config(CONFIG, env=env)
    assert config.genesys.api_base_url == "http://127.0.0.1:9865"
    assert config.genesys.login_base_url == "http://127.0.0.1:9866"
    assert config.genesys.region == "mypurecloud.ie"


def test_one_base_url_env_keeps_the_other_host_from_the_region() -> None:
    """Overriding only the API host leaves the login host derived from the region."""
    config = parse_config(CONFIG, env={"GENESYS_API_BASE_URL": "https://proxy.example/genesys"})
    assert config.genesys.api_base_url == "https://proxy.example/genesys"
    assert config.genesys.login_base_url == "https://login.mypurecloud.ie"


def test_region_may_be_omitted_when_both_base_urls_are_set() -> None:
    """Without a region, both base URLs from the environment are enough; region is ''."""
    env = {
        "GENESYS_API_BASE_URL": "http://127.0.0.1:9865",
        "GENESYS_LOGIN_BASE_URL": "http://127.0.0.1:9865",
    }
    config = parse_config(NO_REGION, env=env)
    assert config.genesys.region == ""
    assert config.genesys.api_base_url == "http://127.0.0.1:9865"


def test_region_is_required_when_only_one_base_url_is_set() -> None:
    """One base URL alone does not replace the region."""
    with pytest.raises(ConfigError) as caught:
        parse_config(NO_REGION, env={"GENESYS_API_BASE_URL": "http://127.0.0.1:9865"})
    assert caught.value.problems == [
        "genesys: missing required key 'region' (a region domain such as mypurecloud.ie or an "
        "SDK region name such as eu_west_1; or set GENESYS_REGION, or both GENESYS_API_BASE_URL "
        "and GENESYS_LOGIN_BASE_URL)"
    ]


def test_region_env_stands_in_for_a_missing_region() -> None:
    """GENESYS_REGION alone is enough when the file has no region."""
    config = parse_config(NO_REGION, env={"GENESYS_REGION": "mypurecloud.jp"})
    assert config.genesys.api_base_url == "https://api.mypurecloud.jp"


def test_region_env_stands_in_for_a_missing_genesys_section() -> None:
    """GENESYS_REGION alone is enough without a genesys: section; its settings keep their
    defaults."""
    text = poller_yaml(FLOWS, region=None)
    assert not text.startswith("genesys")
    config = parse_config(text, env={"GENESYS_REGION": "mypurecloud.jp"})
    assert config.genesys.api_base_url == "https://api.mypurecloud.jp"
    assert config.genesys.login_base_url == "https://login.mypurecloud.jp"
    assert (config.genesys.requests_per_minute, config.genesys.timeout) == (300, 30.0)


def test_base_url_envs_stand_in_for_a_missing_genesys_section() -> None:
    """Both base-URL variables are enough without a genesys: section, as with one."""
    env = {"GENESYS_API_BASE_URL": "http://sim:1", "GENESYS_LOGIN_BASE_URL": "http://sim:1"}
    config = parse_config(poller_yaml(FLOWS, region=None), env=env)
    assert (config.genesys.api_base_url, config.genesys.login_base_url) == (
        "http://sim:1",
        "http://sim:1",
    )


def test_a_bad_region_env_without_a_genesys_section_names_the_variable() -> None:
    """Without genesys:, an unknown GENESYS_REGION is reported as the variable's problem."""
    with pytest.raises(ConfigError) as err:
        parse_config(
            poller_yaml(FLOWS, region=None), source="p.yaml", env={"GENESYS_REGION": "nowhere"}
        )
    assert [p.split(":")[0] for p in err.value.problems] == ["GENESYS_REGION"]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (
            "ftp://api.example",
            "expected an http:// or https:// URL with a host, such as https://api.mypurecloud.ie",
        ),
        (
            "api.mypurecloud.ie",
            "expected an http:// or https:// URL with a host, such as https://api.mypurecloud.ie",
        ),
        (
            "http://",
            "expected an http:// or https:// URL with a host, such as https://api.mypurecloud.ie",
        ),
        (
            "http://127.0.0.1:99999",
            "expected an http:// or https:// URL with a host, such as https://api.mypurecloud.ie",
        ),
        ("https://user:hunter2@api.example", "must not contain a user name or password"),
        ("https://api.example/?x=1", "must not contain a query (?) or fragment (#)"),
    ],
)
def test_invalid_base_url_env_is_refused(url: str, problem: str) -> None:
    """A bad base URL names the variable and the fix."""
    with pytest.raises(ConfigError) as caught:
        parse_config(CONFIG, env={"GENESYS_LOGIN_BASE_URL": url})
    assert caught.value.problems == [f"GENESYS_LOGIN_BASE_URL: {problem}"]


def test_base_url_with_a_password_is_not_echoed() -> None:
    """A password in a base URL never reaches the error message."""
    with pytest.raises(ConfigError) as caught:
        parse_config(CONFIG, env={"GENESYS_API_BASE_URL": "https://u:hunter2@api.example"})
    assert "GENESYS_API_BASE_URL" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_empty_env_overrides_count_as_unset() -> None:
    """Empty GENESYS_* variables (placeholders in a manifest) change nothing."""
    env = {"GENESYS_REGION": "", "GENESYS_API_BASE_URL": "", "GENESYS_LOGIN_BASE_URL": ""}
    config = parse_config(CONFIG, env=env)
    assert config.genesys.api_base_url == "https://api.mypurecloud.ie"


def test_env_defaults_to_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an env argument, os.environ supplies the overrides."""
    monkeypatch.setenv("GENESYS_REGION", "mypurecloud.de")
    monkeypatch.delenv("GENESYS_API_BASE_URL", raising=False)
    monkeypatch.delenv("GENESYS_LOGIN_BASE_URL", raising=False)
    assert parse_config(CONFIG).genesys.region == "mypurecloud.de"


# -- credentials ----------------------------------------------------------------------------------


def test_credentials_from_variables() -> None:
    """GENESYS_CLIENT_ID / GENESYS_CLIENT_SECRET give the client; the secret stays hidden."""
    creds = load_credentials({"GENESYS_CLIENT_ID": "id-1", "GENESYS_CLIENT_SECRET": SECRET})
    assert creds.client_id == "id-1"
    assert creds.client_secret == Secret(SECRET)
    assert creds.client_secret.reveal() == SECRET
    assert SECRET not in repr(creds)
    assert SECRET not in str(creds)


def test_credentials_from_files_lose_the_trailing_newline(tmp_path: Path) -> None:
    """*_FILE variables name files whose content, minus the trailing newline, is the value."""
    (tmp_path / "id").write_text("id-2\n")
    (tmp_path / "secret").write_text(SECRET + "\r\n")
    env = {
        "GENESYS_CLIENT_ID_FILE": str(tmp_path / "id"),
        "GENESYS_CLIENT_SECRET_FILE": str(tmp_path / "secret"),
    }
    creds = load_credentials(env)
    assert creds.client_id == "id-2"
    assert creds.client_secret.reveal() == SECRET


def test_credentials_can_mix_a_variable_and_a_file(tmp_path: Path) -> None:
    """The id may come from a variable while the secret comes from a file."""
    (tmp_path / "secret").write_text(SECRET)
    env = {"GENESYS_CLIENT_ID": "id-3", "GENESYS_CLIENT_SECRET_FILE": str(tmp_path / "secret")}
    assert load_credentials(env).client_secret.reveal() == SECRET


def test_missing_credentials_name_the_variables() -> None:
    """With nothing set, both missing values are listed with the variables that supply them."""
    with pytest.raises(ConfigError) as caught:
        load_credentials({"GENESYS_CLIENT_ID": ""})
    assert caught.value.problems == [
        "GENESYS_CLIENT_ID is not set; set GENESYS_CLIENT_ID, or GENESYS_CLIENT_ID_FILE to a "
        "file that holds it",
        "GENESYS_CLIENT_SECRET is not set; set GENESYS_CLIENT_SECRET, or "
        "GENESYS_CLIENT_SECRET_FILE to a file that holds it",
    ]
    assert caught.value.source == "environment"


def test_variable_and_file_both_set_is_an_error(tmp_path: Path) -> None:
    """Setting both GENESYS_CLIENT_SECRET and its _FILE is ambiguous and refused, unechoed."""
    (tmp_path / "secret").write_text("other-secret")
    env = {
        "GENESYS_CLIENT_ID": "id-4",
        "GENESYS_CLIENT_SECRET": SECRET,
        "GENESYS_CLIENT_SECRET_FILE": str(tmp_path / "secret"),
    }
    with pytest.raises(ConfigError) as caught:
        load_credentials(env)
    assert caught.value.problems == [
        "GENESYS_CLIENT_SECRET and GENESYS_CLIENT_SECRET_FILE are both set; set only one of them"
    ]
    assert SECRET not in str(caught.value)
    assert "other-secret" not in str(caught.value)


def test_unreadable_and_empty_credential_files(tmp_path: Path) -> None:
    """A missing file and an empty file are reported with the variable and the path."""
    (tmp_path / "empty").write_text("\n")
    env = {
        "GENESYS_CLIENT_ID_FILE": str(tmp_path / "absent"),
        "GENESYS_CLIENT_SECRET_FILE": str(tmp_path / "empty"),
    }
    with pytest.raises(ConfigError) as caught:
        load_credentials(env)
    assert caught.value.problems == [
        f"GENESYS_CLIENT_ID_FILE: cannot read {tmp_path / 'absent'}: No such file or directory",
        f"GENESYS_CLIENT_SECRET_FILE: {tmp_path / 'empty'} is empty",
    ]


def test_non_utf8_secret_file_is_refused_without_echo(tmp_path: Path) -> None:
    """A secret file that is not UTF-8 is named, and its bytes are not shown."""
    (tmp_path / "secret").write_bytes(b"\xff\xfesecret-bytes")
    env = {"GENESYS_CLIENT_ID": "id-5", "GENESYS_CLIENT_SECRET_FILE": str(tmp_path / "secret")}
    with pytest.raises(ConfigError) as caught:
        load_credentials(env)
    assert caught.value.problems == [
        f"GENESYS_CLIENT_SECRET_FILE: {tmp_path / 'secret'} is not UTF-8 text"
    ]
    assert "secret-bytes" not in str(caught.value)
