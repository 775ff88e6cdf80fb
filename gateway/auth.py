"""Tokens: verify who is connecting (HS256 by default, RS256 for a bank's identity
provider) and, in demo mode only, mint tokens for the demo users."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

import jwt

from gateway.settings import Settings
from handoff.ports import Person, Role

__all__ = ["AuthError", "Principal", "TokenIssuer", "TokenVerifier"]

_ROLES: frozenset[str] = frozenset(get_args(Role))


class AuthError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True, slots=True)
class Principal:
    id: str
    role: Role
    name: str
    # Queues an agent serves (the `skills` claim); empty means every queue.
    skills: frozenset[str] = frozenset()

    @property
    def actor(self) -> str:
        """How this person appears in the conversation log."""
        return f"{self.role}:{self.id}"


class TokenVerifier:
    def __init__(self, settings: Settings) -> None:
        self._algorithm = settings.jwt_algorithm
        if settings.jwt_algorithm == "RS256":
            assert settings.jwt_public_key_file is not None
            self._key: str = settings.jwt_public_key_file.read_text()
        else:
            assert settings.jwt_secret is not None
            self._key = settings.jwt_secret
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience

    def verify(self, token: object) -> Principal:
        if not isinstance(token, str) or not token:
            raise AuthError("unauthorized", "a token is required")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=[self._algorithm],
                issuer=self._issuer,
                audience=self._audience,
                options={"require": ["exp", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("unauthorized", "the token has expired") from None
        except jwt.InvalidTokenError as error:
            raise AuthError("unauthorized", f"invalid token: {error}") from None
        role = claims.get("role")
        if not isinstance(role, str) or role not in _ROLES:
            raise AuthError("unauthorized", f"invalid token: unknown role {role!r}")
        subject = str(claims["sub"])
        skills = claims.get("skills") or []
        if not isinstance(skills, list) or not all(isinstance(s, str) for s in skills):
            raise AuthError("unauthorized", "invalid token: `skills` must be a list of strings")
        return Principal(
            id=subject,
            role=role,
            name=str(claims.get("name") or subject),
            skills=frozenset(skills),
        )


class TokenIssuer:
    """Mints HS256 tokens. Used by the demo login only: production tokens come from the IdP."""

    def __init__(self, settings: Settings) -> None:
        if settings.jwt_algorithm != "HS256" or settings.jwt_secret is None:
            raise ValueError("the token issuer needs HS256 and a secret")
        self._secret = settings.jwt_secret
        self._ttl = timedelta(seconds=settings.token_ttl_seconds)
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience

    def issue(self, person: Person, now: datetime | None = None) -> tuple[str, datetime]:
        now = now or datetime.now(UTC)
        expires = now + self._ttl
        claims: dict[str, Any] = {
            "sub": person.id,
            "role": person.role,
            "name": person.name,
            "iat": now,
            "exp": expires,
        }
        if person.skills:
            claims["skills"] = sorted(person.skills)
        if self._issuer:
            claims["iss"] = self._issuer
        if self._audience:
            claims["aud"] = self._audience
        return jwt.encode(claims, self._secret, algorithm="HS256"), expires
