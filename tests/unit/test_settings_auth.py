"""Settings precedence and validation; token verification (HS256 and RS256)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.auth import AuthError, TokenIssuer, TokenVerifier
from gateway.settings import SettingsError, load_settings
from handoff.ports import Person

SECRET = "s" * 40


@pytest.fixture(autouse=True)
def no_tandem_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("TANDEM_"):
            monkeypatch.delenv(name)


def test_defaults_and_demo_secret() -> None:
    settings = load_settings(demo=True)
    assert (settings.host, settings.port, settings.agent_capacity) == ("127.0.0.1", 8080, 3)
    assert settings.jwt_secret and len(settings.jwt_secret) >= 32
    assert load_settings(demo=True).jwt_secret != settings.jwt_secret  # per process start


def test_file_then_environment_then_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "tandem.toml"
    config.write_text(f'jwt_secret = "{SECRET}"\nport = 9000\nwrap_up_seconds = 5\n')
    monkeypatch.setenv("TANDEM_CONFIG", str(config))
    assert load_settings().port == 9000
    monkeypatch.setenv("TANDEM_PORT", "9100")
    settings = load_settings()
    assert (settings.port, settings.wrap_up_seconds) == (9100, 5)
    assert load_settings(port=9200).port == 9200


def test_errors_name_each_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TANDEM_OFFER_TIMEOUT_SECONDS", "-1")
    monkeypatch.setenv("TANDEM_LOG_LEVEL", "LOUD")
    with pytest.raises(SettingsError) as caught:
        load_settings(demo=True)
    message = str(caught.value)
    assert "TANDEM_OFFER_TIMEOUT_SECONDS" in message and "TANDEM_LOG_LEVEL" in message


def test_rs256_needs_a_key_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="jwt_public_key_file"):
        load_settings(jwt_algorithm="RS256")
    with pytest.raises(SettingsError, match="no file"):
        load_settings(jwt_algorithm="RS256", jwt_public_key_file=tmp_path / "missing.pem")


def test_hs256_round_trip_and_failures() -> None:
    settings = load_settings(jwt_secret=SECRET, jwt_issuer="tandem-demo")
    token, expires = TokenIssuer(settings).issue(Person("anna", "agent", "Anna Novak"))
    principal = TokenVerifier(settings).verify(token)
    assert (principal.id, principal.role, principal.name, principal.actor) == (
        "anna",
        "agent",
        "Anna Novak",
        "agent:anna",
    )
    assert expires > datetime.now(UTC)
    other = load_settings(jwt_secret="t" * 40)
    with pytest.raises(AuthError, match="invalid token"):
        TokenVerifier(other).verify(token)
    wrong_issuer = load_settings(jwt_secret=SECRET, jwt_issuer="someone-else")
    with pytest.raises(AuthError, match="invalid token"):
        TokenVerifier(wrong_issuer).verify(token)
    stale, _ = TokenIssuer(settings).issue(
        Person("anna", "agent", "Anna"), now=datetime.now(UTC) - timedelta(days=2)
    )
    with pytest.raises(AuthError, match="expired"):
        TokenVerifier(settings).verify(stale)


def test_rs256_tokens_from_an_identity_provider(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = tmp_path / "idp.pem"
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    settings = load_settings(
        jwt_algorithm="RS256",
        jwt_public_key_file=public,
        jwt_audience="tandem",
        jwt_issuer="https://idp.bank.example",
    )
    verifier = TokenVerifier(settings)
    claims = {
        "sub": "cust-42",
        "role": "customer",
        "name": "Dana",
        "aud": "tandem",
        "iss": "https://idp.bank.example",
        "exp": datetime.now(UTC) + timedelta(minutes=5),
    }
    principal = verifier.verify(jwt.encode(claims, key, algorithm="RS256"))
    assert (principal.id, principal.role, principal.name) == ("cust-42", "customer", "Dana")
    with pytest.raises(AuthError, match="invalid token"):
        verifier.verify(jwt.encode({**claims, "aud": "elsewhere"}, key, algorithm="RS256"))
    # An HS256 token signed with the public key's text must not pass (algorithm confusion).
    with pytest.raises(AuthError):
        verifier.verify(jwt.encode(claims, SECRET, algorithm="HS256"))
    with pytest.raises(AuthError, match="role"):
        verifier.verify(jwt.encode({**claims, "role": "admin"}, key, algorithm="RS256"))
