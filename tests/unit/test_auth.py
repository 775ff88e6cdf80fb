"""Token verification: HS256 with the shared secret, RS256 with an identity provider's
public key (issuer and audience checks), and the demo issuer."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.auth import AuthError, Principal, TokenIssuer, TokenVerifier
from gateway.settings import Settings
from handoff.ports import Person

SECRET = "s" * 40
ISSUER = "https://idp.bank.example/"
AUDIENCE = "tandem"


@pytest.fixture(autouse=True)
def no_tandem_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("TANDEM_"):
            monkeypatch.delenv(name)


def soon(minutes: int = 5) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


def hs256(claims: dict[str, Any], secret: str = SECRET) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


def refused(verifier: TokenVerifier, token: object, *words: str) -> AuthError:
    with pytest.raises(AuthError) as caught:
        verifier.verify(token)
    error = caught.value
    assert error.code == "unauthorized", error.to_json()
    assert error.to_json() == {"code": "unauthorized", "message": error.message}
    for word in words:
        assert word.lower() in error.message.lower(), (word, error.message)
    return error


@pytest.fixture
def verifier() -> TokenVerifier:
    return TokenVerifier(Settings(jwt_secret=SECRET))


# -- HS256 -------------------------------------------------------------------------------


def test_hs256_token_gives_the_principal(verifier: TokenVerifier) -> None:
    principal = verifier.verify(
        hs256({"sub": "alice", "role": "customer", "name": "Alice Martin", "exp": soon()})
    )
    assert principal == Principal("alice", "customer", "Alice Martin")
    assert principal.actor == "customer:alice"
    for role in ("agent", "supervisor"):
        assert verifier.verify(hs256({"sub": "x", "role": role, "exp": soon()})).role == role
    # No name: the subject stands in.
    assert verifier.verify(hs256({"sub": "u1", "role": "agent", "exp": soon()})).name == "u1"


def test_demo_issuer_round_trip() -> None:
    settings = Settings(demo=True, token_ttl_seconds=60)
    issued, expires = TokenIssuer(settings).issue(Person("anna", "agent", "Anna Novak"))
    assert timedelta(seconds=55) < expires - datetime.now(UTC) <= timedelta(seconds=60)
    assert TokenVerifier(settings).verify(issued) == Principal("anna", "agent", "Anna Novak")
    # Minted long ago: expired now.
    old, _ = TokenIssuer(settings).issue(
        Person("anna", "agent", "Anna"), now=datetime.now(UTC) - timedelta(minutes=5)
    )
    refused(TokenVerifier(settings), old, "expired")
    # A verifier with another secret does not accept it.
    refused(TokenVerifier(Settings(jwt_secret="t" * 40)), issued, "signature")


def test_issuer_and_audience_with_hs256() -> None:
    settings = Settings(jwt_secret=SECRET, jwt_issuer=ISSUER, jwt_audience=AUDIENCE)
    verifier = TokenVerifier(settings)
    issued, _ = TokenIssuer(settings).issue(Person("bob", "customer", "Bob"))
    claims = jwt.decode(issued, SECRET, algorithms=["HS256"], audience=AUDIENCE)
    assert (claims["iss"], claims["aud"]) == (ISSUER, AUDIENCE)
    assert verifier.verify(issued).id == "bob"
    plain = hs256({"sub": "bob", "role": "customer", "exp": soon()})
    refused(verifier, plain)


def test_no_token(verifier: TokenVerifier) -> None:
    for token in (None, "", 0, 42, b"bytes", {"token": "x"}, ["a"]):
        refused(verifier, token, "token is required")


def test_expired_token(verifier: TokenVerifier) -> None:
    past = datetime.now(UTC) - timedelta(seconds=1)
    refused(verifier, hs256({"sub": "alice", "role": "customer", "exp": past}), "expired")


def test_forged_token(verifier: TokenVerifier) -> None:
    forged = hs256({"sub": "sara", "role": "supervisor", "exp": soon()}, "f" * 40)
    refused(verifier, forged, "signature")
    # A real token whose claims were edited keeps a signature that no longer fits.
    real = hs256({"sub": "alice", "role": "customer", "exp": soon()})
    head, _, signature = real.split(".")
    edited = (
        base64.urlsafe_b64encode(
            json.dumps(
                {"sub": "alice", "role": "supervisor", "exp": int(soon().timestamp())}
            ).encode()
        )
        .rstrip(b"=")
        .decode()
    )
    refused(verifier, f"{head}.{edited}.{signature}", "signature")


def test_unsigned_and_malformed_tokens(verifier: TokenVerifier) -> None:
    unsigned = jwt.encode(
        {"sub": "sara", "role": "supervisor", "exp": soon()}, None, algorithm="none"
    )
    refused(verifier, unsigned, "invalid token")
    for garbage in ("garbage", "a.b.c", "eyJhbGciOiJIUzI1NiJ9..", "Bearer x.y.z"):
        refused(verifier, garbage, "invalid token")
    # The right secret with another HMAC algorithm is not what was configured.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyJWT: a 40-byte key is short for HS512
        other_alg = jwt.encode(
            {"sub": "a", "role": "customer", "exp": soon()}, SECRET, algorithm="HS512"
        )
    refused(verifier, other_alg, "invalid token")


def test_tokens_without_a_usable_role(verifier: TokenVerifier) -> None:
    refused(verifier, hs256({"sub": "alice", "exp": soon()}), "role")
    for role in ("admin", "Customer", "", None, 1, 2.5, True):
        refused(verifier, hs256({"sub": "alice", "role": role, "exp": soon()}), "role")


def test_a_role_that_is_a_list_or_object_is_refused_not_a_crash(
    verifier: TokenVerifier,
) -> None:
    """Identity providers often send roles as arrays. Such a token must be refused as
    unauthorized, not raise TypeError (unhashable) out of the verifier."""
    for role in (["agent"], {"name": "agent"}, []):
        refused(verifier, hs256({"sub": "alice", "role": role, "exp": soon()}), "role")


def test_required_claims(verifier: TokenVerifier) -> None:
    refused(verifier, hs256({"role": "customer", "exp": soon()}), "sub")
    refused(verifier, hs256({"sub": "alice", "role": "customer"}), "exp")
    refused(verifier, hs256({"sub": "alice", "role": "customer", "exp": "tomorrow"}), "exp")
    not_yet = hs256({"sub": "alice", "role": "customer", "exp": soon(10), "nbf": soon(5)})
    refused(verifier, not_yet, "invalid token")


def test_issuer_refuses_rs256_settings(tmp_path: Path) -> None:
    pem = tmp_path / "public.pem"
    pem.write_bytes(_public_pem(_private_key()))
    with pytest.raises(ValueError, match="HS256"):
        TokenIssuer(Settings(jwt_algorithm="RS256", jwt_public_key_file=pem))


# -- RS256 -------------------------------------------------------------------------------


def _private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.fixture(scope="module")
def idp_key() -> rsa.RSAPrivateKey:
    return _private_key()


@pytest.fixture
def idp_pem(tmp_path: Path, idp_key: rsa.RSAPrivateKey) -> Path:
    path = tmp_path / "idp-public.pem"
    path.write_bytes(_public_pem(idp_key))
    return path


def rs256(key: rsa.RSAPrivateKey, **claims: Any) -> str:
    body: dict[str, Any] = {
        "sub": "emp-7",
        "role": "agent",
        "name": "Erin",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "exp": soon(),
    }
    body.update(claims)
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm="RS256")


def test_rs256_with_issuer_and_audience(idp_key: rsa.RSAPrivateKey, idp_pem: Path) -> None:
    verifier = TokenVerifier(
        Settings(
            jwt_algorithm="RS256",
            jwt_public_key_file=idp_pem,
            jwt_issuer=ISSUER,
            jwt_audience=AUDIENCE,
        )
    )
    assert verifier.verify(rs256(idp_key)) == Principal("emp-7", "agent", "Erin")
    # Audience may be a list that includes us.
    assert verifier.verify(rs256(idp_key, aud=["crm", AUDIENCE])).id == "emp-7"

    refused(verifier, rs256(idp_key, iss="https://evil.example/"), "issuer")
    refused(verifier, rs256(idp_key, iss=None), "iss")
    refused(verifier, rs256(idp_key, aud="another-app"), "audience")
    refused(verifier, rs256(idp_key, aud=None), "aud")
    refused(verifier, rs256(idp_key, exp=datetime.now(UTC) - timedelta(seconds=5)), "expired")
    refused(verifier, rs256(idp_key, role="root"), "role")
    refused(verifier, rs256(_private_key()), "signature")


def test_rs256_without_issuer_or_audience_settings(
    idp_key: rsa.RSAPrivateKey, idp_pem: Path
) -> None:
    verifier = TokenVerifier(Settings(jwt_algorithm="RS256", jwt_public_key_file=idp_pem))
    assert verifier.verify(rs256(idp_key, aud=None, iss=None)).id == "emp-7"
    assert verifier.verify(rs256(idp_key, aud=None)).id == "emp-7"


def test_rs256_refuses_hs256_tokens(idp_key: rsa.RSAPrivateKey, idp_pem: Path) -> None:
    verifier = TokenVerifier(Settings(jwt_algorithm="RS256", jwt_public_key_file=idp_pem))
    refused(verifier, hs256({"sub": "a", "role": "supervisor", "exp": soon()}), "invalid token")
    # Key confusion: an HS256 token "signed" with the public key as the HMAC secret.
    header = {"alg": "HS256", "typ": "JWT"}
    claims = {"sub": "mallory", "role": "supervisor", "exp": int(soon().timestamp())}

    def part(data: dict[str, Any]) -> bytes:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=")

    signing_input = part(header) + b"." + part(claims)
    mac = hmac.new(idp_pem.read_bytes(), signing_input, hashlib.sha256).digest()
    token = (signing_input + b"." + base64.urlsafe_b64encode(mac).rstrip(b"=")).decode()
    refused(verifier, token, "invalid token")
