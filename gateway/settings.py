"""Settings: defaults, then a TOML file, then TANDEM_* environment variables (highest).

Every setting is validated at start-up; a bad value stops the server with a message that
names the setting and says what is wrong, before anything listens.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
import socket
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

__all__ = ["Settings", "SettingsError", "load_settings"]

CONFIG_ENV = "TANDEM_CONFIG"


class SettingsError(Exception):
    """Configuration is invalid; the message is meant for the operator."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TANDEM_", extra="forbid", frozen=True, validate_default=True
    )

    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8080, ge=0, le=65535, description="TCP port to listen on (0: any free).")
    demo: bool = Field(
        False,
        description="Demo mode: demo users and a login that mints tokens. Never in production.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"

    jwt_algorithm: Literal["HS256", "RS256"] = "HS256"
    jwt_secret: str | None = Field(None, description="HS256 shared secret (32+ characters).")
    jwt_public_key_file: Path | None = Field(None, description="RS256: the IdP's public key (PEM).")
    jwt_issuer: str | None = Field(None, description="Required `iss` claim, if set.")
    jwt_audience: str | None = Field(None, description="Required `aud` claim, if set.")
    token_ttl_seconds: int = Field(8 * 3600, gt=0, description="Lifetime of demo tokens.")

    offer_timeout_seconds: float = Field(20.0, gt=0, le=600)
    wrap_up_seconds: float = Field(10.0, ge=0, le=3600)
    agent_capacity: int = Field(3, ge=1, le=50, description="Concurrent chats per agent.")
    agent_lost_grace_seconds: float = Field(60.0, ge=0, le=3600)
    average_handle_seconds: float = Field(180.0, gt=0, description="Prior for wait estimates.")
    presence_heartbeat_seconds: float = Field(
        10.0, gt=0, le=300, description="How often a node refreshes its agents' shared presence."
    )
    skill_overflow_seconds: float = Field(
        60.0,
        ge=0,
        le=3600,
        description="A customer waiting this long for a skill no ready agent has goes to "
        "any ready agent.",
    )
    dispatch_interval_seconds: float = Field(
        2.0,
        gt=0,
        le=60,
        description="While customers wait, how often a node looks at the queue again "
        "(an offer made elsewhere may have lapsed or its node died).",
    )

    max_message_chars: int = Field(4000, ge=1, le=100_000)
    max_packet_bytes: int = Field(65536, ge=1024, le=16 * 1024 * 1024)
    ping_interval_seconds: float = Field(25.0, gt=0)
    shutdown_grace_seconds: float = Field(10.0, ge=0, le=300)

    database_url: str | None = Field(
        None, description="PostgreSQL DSN; unset: the embedded in-memory store."
    )
    database_schema: str = Field("tandem", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    database_pool_min: int = Field(2, ge=1, le=100)
    database_pool_max: int = Field(10, ge=1, le=500)
    database_writers: int = Field(
        1, ge=1, le=64, description="Append batches in flight at once (group commit)."
    )
    migrate_on_start: bool = Field(False, description="Apply database migrations at start.")
    redis_url: str | None = Field(
        None, description="Redis: events and socket.io emits shared between nodes."
    )
    redis_prefix: str = Field("tandem:", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    node_id: str = Field(
        default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}",
        pattern=r"^[A-Za-z0-9_.:-]{1,128}$",
        description="This process's name among the nodes (default: host-pid).",
    )

    knowledge_file: Path | None = Field(None, description="Bot knowledge base (TOML).")
    understanding: bool = Field(
        True,
        description="Intent classifier and slot extraction for the bot, routing and tickets "
        "(off: the bot uses its knowledge search alone).",
    )
    understanding_cache_dir: Path | None = Field(
        None,
        description="Where the trained intent model is kept "
        "(default: $XDG_CACHE_HOME/tandem/understanding or ~/.cache/tandem/understanding).",
    )
    understanding_threshold: float = Field(
        0.6, gt=0, lt=1, description="Below this confidence the bot asks what the customer meant."
    )
    intent_routes_file: Path | None = Field(
        None, description="TOML overriding the queue and priority of intents."
    )
    bank: Literal["none", "demo"] | None = Field(
        None,
        description="The core-banking system self-service tasks go through: 'demo' (an "
        "in-memory bank of made-up customers) or 'none' (self-service off). Unset: 'demo' "
        "in demo mode, else 'none'. A bank plugs in its own adapter.",
    )
    llm_base_url: str | None = Field(
        None,
        description="An OpenAI-compatible chat-completions endpoint (…/v1) that improves "
        "ticket drafts; unset: tickets are filled offline.",
    )
    llm_api_key: str | None = Field(None, description="Bearer token for the LLM endpoint.")
    llm_model: str = Field("default", description="Model name sent to the LLM endpoint.")
    llm_timeout_seconds: float = Field(
        8.0, gt=0, le=120, description="After this, the offline ticket draft is used."
    )
    web_root: Path | None = Field(None, description="Folder of the web pages (default: ./web).")

    calls_enabled: bool = Field(True, description="Audio/video calls (WebRTC) in conversations.")
    # Lists: a JSON array or comma-separated in the environment, an array in a file.
    ice_servers: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="STUN/TURN server URLs for the server's ICE agent (none: no public STUN).",
    )
    ice_username: str | None = Field(None, description="TURN username for `ice_servers`.")
    ice_credential: str | None = Field(None, description="TURN credential for `ice_servers`.")
    ice_host_addresses: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.1"],
        description="Local IP addresses the media server offers (host candidates).",
    )
    ice_allowed_networks: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.0/8"],
        description="Networks a remote media address may be in; others are dropped.",
    )
    transcripts: bool = Field(
        True,
        description="Live transcripts of every call (needs the speech extra; engines are "
        "chosen by TANDEM_STT_* / TANDEM_TTS_*).",
    )
    calls_first: Literal["digital_human", "queue"] = Field(
        "digital_human",
        description="Who answers a call while the bot serves the conversation: the digital "
        "human (needs the speech extra; without it calls go to the queue, and the log says "
        "why) or the queue. Chat is always answered by the text bot.",
    )
    call_max_misunderstandings: int = Field(
        2,
        ge=0,
        le=10,
        description="Misunderstood questions in a row after which the digital human hands "
        "the call to a person (the next one goes to the queue).",
    )
    recordings_dir: Path = Field(
        Path("recordings"), description="Where call recordings are written (./recordings)."
    )
    call_capacity_weight: int | None = Field(
        None,
        ge=1,
        le=50,
        description="Slots of agent_capacity a conversation with a call takes "
        "(default: all of them).",
    )

    @field_validator("ice_servers", "ice_host_addresses", "ice_allowed_networks", mode="before")
    @classmethod
    def _list(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [item.strip() for item in text.split(",") if item.strip()]
        return value

    @field_validator("ice_servers")
    @classmethod
    def _ice_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.startswith(("stun:", "turn:", "turns:")):
                raise ValueError(f"{url!r} is not a stun:, turn: or turns: URL")
        return value

    @field_validator("ice_host_addresses")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one address is needed to offer media on")
        for address in value:
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise ValueError(f"{address!r} is not an IP address") from None
        return value

    @field_validator("ice_allowed_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for network in value:
            try:
                ipaddress.ip_network(network)
            except ValueError:
                raise ValueError(f"{network!r} is not a network (e.g. 10.0.0.0/8)") from None
        return value

    @model_validator(mode="before")
    @classmethod
    def _demo_secret(cls, values: Any) -> Any:
        # A demo needs no secret from the operator: tokens it mints live as long as the
        # process does, which is exactly what a demo wants.
        if (
            isinstance(values, dict)
            and _truthy(values.get("demo"))
            and not values.get("jwt_secret")
            and values.get("jwt_algorithm", "HS256") == "HS256"
        ):
            values = {**values, "jwt_secret": secrets.token_urlsafe(48)}
        return values

    @model_validator(mode="after")
    def _check_auth(self) -> Settings:
        if self.jwt_algorithm == "RS256":
            if self.jwt_public_key_file is None:
                raise ValueError("jwt_public_key_file is required when jwt_algorithm is RS256")
            if not self.jwt_public_key_file.is_file():
                raise ValueError(f"jwt_public_key_file: no file at {self.jwt_public_key_file}")
        elif self.jwt_secret is None and not self.demo:
            raise ValueError(
                "jwt_secret is required (set TANDEM_JWT_SECRET to 32+ random characters), "
                "or run with --demo"
            )
        if self.jwt_secret is not None and len(self.jwt_secret) < 32:
            raise ValueError("jwt_secret must be at least 32 characters")
        if self.redis_url is not None and self.database_url is None:
            raise ValueError(
                "redis_url needs database_url: Redis shares a durable log between nodes; "
                "set TANDEM_DATABASE_URL too"
            )
        if self.database_pool_min > self.database_pool_max:
            raise ValueError("database_pool_min must not exceed database_pool_max")
        return self

    def store_description(self) -> str:
        if self.database_url is None:
            return "in-memory (embedded; nothing survives a restart)"
        durable = f"PostgreSQL {_redact(self.database_url)} schema {self.database_schema}"
        if self.redis_url is None:
            return durable
        return f"{durable}; Redis {_redact(self.redis_url)} prefix {self.redis_prefix}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if settings_cls.model_config.get("toml_file"):
            sources.append(TomlConfigSettingsSource(settings_cls))
        return tuple(sources)


def _redact(dsn: str) -> str:
    """The DSN without its password, for logs."""
    return re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", dsn)


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings; raise `SettingsError` naming each bad setting."""
    settings_cls: type[Settings] = Settings
    if config_file is not None:
        if not config_file.is_file():
            raise SettingsError(f"configuration file not found: {config_file}")
    elif path := os.environ.get(CONFIG_ENV):
        config_file = Path(path)
        if not config_file.is_file():
            raise SettingsError(f"{CONFIG_ENV}={path}: no such file")
    if config_file is not None:
        # A subclass that knows its file: no process-wide state is changed to pass it on.
        config = SettingsConfigDict(**{**Settings.model_config, "toml_file": config_file})
        settings_cls = type("FileSettings", (Settings,), {"model_config": config})
    try:
        return settings_cls(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as error:
        lines = []
        for problem in error.errors():
            where = ".".join(str(p) for p in problem["loc"])
            message = problem["msg"].removeprefix("Value error, ")
            if not where:
                lines.append(f"  {message}")
                continue
            if problem["type"] == "extra_forbidden":
                message = "not a Tandem setting (misspelt?)"
            elif "input" in problem and not isinstance(problem["input"], dict):
                message = f"{message} (got {problem['input']!r})"
            lines.append(f"  TANDEM_{where.upper()} ({where} in a file): {message}")
        raise SettingsError("invalid configuration:\n" + "\n".join(lines)) from None
    except Exception as error:  # TOML syntax errors and the like
        where = f" file {config_file}" if config_file is not None else ""
        raise SettingsError(f"cannot read configuration{where}: {error}") from None
