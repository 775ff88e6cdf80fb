"""Settings: defaults, a TOML file (TANDEM_CONFIG or --config), TANDEM_* environment
variables over it, explicit overrides over both; clear errors naming each bad setting."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.settings import CONFIG_ENV, Settings, SettingsError, load_settings

SECRET = "s" * 40


@pytest.fixture(autouse=True)
def no_tandem_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("TANDEM_"):
            monkeypatch.delenv(name)


def toml(tmp_path: Path, text: str, name: str = "tandem.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(**kwargs: object) -> str:
    with pytest.raises(SettingsError) as caught:
        load_settings(**kwargs)  # type: ignore[arg-type]
    return str(caught.value)


# -- defaults and sources ----------------------------------------------------------------


def test_defaults() -> None:
    settings = load_settings(jwt_secret=SECRET)
    assert (settings.host, settings.port, settings.demo) == ("127.0.0.1", 8080, False)
    assert settings.jwt_algorithm == "HS256"
    assert (settings.max_message_chars, settings.max_packet_bytes) == (4000, 65536)
    assert (settings.agent_capacity, settings.offer_timeout_seconds) == (3, 20.0)
    assert settings.database_url is None and settings.redis_url is None
    assert "in-memory" in settings.store_description()


def test_demo_mode_makes_its_own_secret() -> None:
    first, second = load_settings(demo=True), load_settings(demo=True)
    assert first.jwt_secret is not None and len(first.jwt_secret) >= 32
    assert first.jwt_secret != second.jwt_secret
    # A secret the operator gives is kept.
    assert load_settings(demo=True, jwt_secret=SECRET).jwt_secret == SECRET


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "yes", "on"])
def test_demo_from_the_environment_also_makes_a_secret(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("TANDEM_DEMO", value)
    settings = load_settings()
    assert settings.demo is True
    assert settings.jwt_secret is not None and len(settings.jwt_secret) >= 32


def test_demo_from_a_file_also_makes_a_secret(tmp_path: Path) -> None:
    settings = load_settings(toml(tmp_path, "demo = true\n"))
    assert settings.demo is True and settings.jwt_secret is not None


def test_toml_file_via_tandem_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = toml(
        tmp_path,
        f'jwt_secret = "{SECRET}"\nport = 9001\nagent_capacity = 7\n'
        'offer_timeout_seconds = 12.5\nhost = "0.0.0.0"\n',
    )
    monkeypatch.setenv(CONFIG_ENV, str(config))
    settings = load_settings()
    assert (settings.port, settings.agent_capacity, settings.offer_timeout_seconds) == (
        9001,
        7,
        12.5,
    )
    assert settings.host == "0.0.0.0" and settings.jwt_secret == SECRET


def test_environment_overrides_the_file_and_arguments_override_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = toml(
        tmp_path,
        f'jwt_secret = "{SECRET}"\nport = 9001\nwrap_up_seconds = 5\n'
        'demo = false\nlog_level = "ERROR"\n',
    )
    monkeypatch.setenv(CONFIG_ENV, str(config))
    monkeypatch.setenv("TANDEM_PORT", "9002")
    monkeypatch.setenv("TANDEM_DEMO", "true")
    monkeypatch.setenv("TANDEM_LOG_LEVEL", "DEBUG")
    settings = load_settings()
    assert settings.port == 9002  # env over file
    assert settings.demo is True
    assert settings.log_level == "DEBUG"
    assert settings.wrap_up_seconds == 5  # the file still fills what env does not say
    # Explicit overrides (the command line) over env; None means "not given".
    settings = load_settings(port=9003, log_level=None)
    assert settings.port == 9003 and settings.log_level == "DEBUG"


def test_an_explicit_config_file_wins_over_tandem_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from_env = toml(tmp_path, f'jwt_secret = "{SECRET}"\nport = 1111\n', "env.toml")
    given = toml(tmp_path, f'jwt_secret = "{SECRET}"\nport = 2222\n', "given.toml")
    monkeypatch.setenv(CONFIG_ENV, str(from_env))
    assert load_settings(given).port == 2222
    # Loading a file changes no process-wide state.
    assert os.environ[CONFIG_ENV] == str(from_env)
    monkeypatch.delenv(CONFIG_ENV)
    load_settings(given)
    assert CONFIG_ENV not in os.environ
    assert load_settings(jwt_secret=SECRET).port == 8080


def test_settings_read_the_environment_directly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TANDEM_JWT_SECRET", SECRET)
    monkeypatch.setenv("TANDEM_AGENT_CAPACITY", "9")
    monkeypatch.setenv("TANDEM_MAX_MESSAGE_CHARS", "100")
    settings = Settings()
    assert settings.agent_capacity == 9 and settings.max_message_chars == 100


def test_store_description_hides_passwords() -> None:
    settings = load_settings(
        jwt_secret=SECRET,
        database_url="postgresql://tandem:hunter2@db.example:5432/tandem",
        redis_url="redis://:redispass@cache.example:6379/0",
    )
    described = settings.store_description()
    assert "hunter2" not in described and "redispass" not in described
    assert "db.example" in described and "cache.example" in described


# -- errors ------------------------------------------------------------------------------


def test_a_bad_environment_value_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TANDEM_PORT", "abc")
    message = error_of(demo=True)
    assert "TANDEM_PORT" in message
    assert "integer" in message


def test_every_bad_setting_is_named_on_its_own_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TANDEM_PORT", "70000")
    monkeypatch.setenv("TANDEM_AGENT_CAPACITY", "0")
    monkeypatch.setenv("TANDEM_LOG_LEVEL", "LOUD")
    monkeypatch.setenv("TANDEM_MAX_PACKET_BYTES", "10")
    message = error_of(demo=True)
    lines = message.splitlines()
    for name in (
        "TANDEM_PORT",
        "TANDEM_AGENT_CAPACITY",
        "TANDEM_LOG_LEVEL",
        "TANDEM_MAX_PACKET_BYTES",
    ):
        assert sum(name in line for line in lines) == 1, (name, message)
    assert "65535" in message  # says what would be right
    assert "DEBUG" in message


def test_no_secret_outside_demo_mode() -> None:
    message = error_of()
    assert "jwt_secret" in message and "TANDEM_JWT_SECRET" in message and "--demo" in message


def test_a_short_secret_is_refused_without_echoing_it() -> None:
    message = error_of(jwt_secret="my-short-secret")
    assert "jwt_secret" in message and "32" in message
    assert "my-short-secret" not in message


def test_rs256_needs_an_existing_public_key_file(tmp_path: Path) -> None:
    message = error_of(jwt_algorithm="RS256")
    assert "jwt_public_key_file" in message and "RS256" in message
    missing = tmp_path / "idp.pem"
    message = error_of(jwt_algorithm="RS256", jwt_public_key_file=missing)
    assert "jwt_public_key_file" in message and str(missing) in message
    # Demo mode does not invent an HS256 secret for an RS256 set-up.
    message = error_of(jwt_algorithm="RS256", demo=True)
    assert "jwt_public_key_file" in message


def test_inconsistent_store_settings() -> None:
    message = error_of(jwt_secret=SECRET, redis_url="redis://localhost:6379/0")
    assert "redis_url" in message and "TANDEM_DATABASE_URL" in message
    message = error_of(jwt_secret=SECRET, database_pool_min=5, database_pool_max=2)
    assert "database_pool_min" in message and "database_pool_max" in message
    message = error_of(jwt_secret=SECRET, database_schema="Bad-Schema")
    assert "TANDEM_DATABASE_SCHEMA" in message


def test_an_unknown_key_in_the_file_is_refused(tmp_path: Path) -> None:
    message = error_of(config_file=toml(tmp_path, f'jwt_secret = "{SECRET}"\ncolour = "red"\n'))
    assert "colour" in message.lower()


def test_a_bad_value_in_the_file_is_named(tmp_path: Path) -> None:
    message = error_of(config_file=toml(tmp_path, f'jwt_secret = "{SECRET}"\nport = "high"\n'))
    assert "PORT" in message.upper()


def test_missing_or_unreadable_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    absent = tmp_path / "absent.toml"
    message = error_of(config_file=absent)
    assert "not found" in message and str(absent) in message
    monkeypatch.setenv(CONFIG_ENV, str(absent))
    message = error_of()
    assert CONFIG_ENV in message and str(absent) in message
    monkeypatch.setenv(CONFIG_ENV, str(toml(tmp_path, "port = = 1\n", "broken.toml")))
    message = error_of()
    assert "cannot read" in message and "line 1" in message
