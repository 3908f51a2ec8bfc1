"""What every request needs: the store, the sign-in service, the search backend and a clock.

Built once by `api.app.create_app` and kept on `app.state`; tests pass their own clock and
engine so that session expiry and TOTP time-steps can be driven without sleeping.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Engine

from access import AccessSettings, SignIn
from api.configuration import Configuration
from index.search import SearchBackend


class ApiSettings(BaseSettings):
    """Service configuration, from CHILDINDEX_API_* variables (access: CHILDINDEX_ACCESS_*)."""

    model_config = SettingsConfigDict(env_prefix="CHILDINDEX_API_", extra="ignore")

    database_url: str = "sqlite:///var/childindex.db"
    access: AccessSettings = Field(default_factory=AccessSettings)
    # Largest request body: JSON requests, and school uploads (census and CTF files).
    max_json_bytes: int = 64 * 1024
    max_upload_bytes: int = 50 * 1024 * 1024
    # Send the session cookie over HTTPS only (off for the loopback demo).
    secure_cookie: bool = True
    # Where school uploads are kept (under names the server chooses) until staged.
    upload_dir: Path = Path("var/uploads")
    search_backend: Literal["embedded", "elasticsearch"] = "embedded"
    # Requests each worker process works on at once (its thread pool; others wait their turn in
    # order). Handlers are CPU-bound Python: threads beyond one per core buy contention for the
    # interpreter lock and SQLite's write lock, not throughput (`childindex bench api`).
    request_threads: int = Field(default=1, ge=1, le=64)
    # /metrics for Prometheus: served only to a scraper with this bearer token or from one of
    # these addresses or networks (e.g. ["10.0.0.5", "10.1.0.0/24"]); neither set: no /metrics.
    metrics_token: SecretStr | None = None
    metrics_scrapers: list[str] = Field(default_factory=list)

    @field_validator("metrics_scrapers")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"metrics_scrapers: {entry!r} is not an address or network") from None
        return value
    # Log lines as JSON (with the request id) on standard error, set up by `childindex serve`.
    log_json: bool = True
    # The OpenAPI document and its Swagger UI at /docs: off unless turned on (the demo does).
    docs: bool = False
    # Where Swagger UI's files are (default: where ops/install.sh puts them, under .cache/).
    docs_assets_dir: Path | None = None
    # Origins whose pages may send unsafe requests with the session cookie, e.g.
    # ["https://childindex.example.gov.uk"] behind a proxy; empty: the request's own scheme and Host.
    allowed_origins: list[str] = Field(default_factory=list)
    # How often (seconds) each worker reads the administrator's stored configuration changes
    # (api.configuration): a change made on one worker is in force on all within this.
    configuration_refresh_seconds: float = Field(default=1.0, ge=0, le=60)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Context:
    settings: ApiSettings
    engine: Engine
    signin: SignIn
    search: SearchBackend
    clock: Callable[[], dt.datetime] = utc_now
    configuration: Configuration = field(init=False)

    def __post_init__(self) -> None:
        self.configuration = Configuration(self.settings.access, self.settings.configuration_refresh_seconds)

    @property
    def access(self) -> AccessSettings:
        return self.settings.access

    @classmethod
    def from_settings(cls, settings: ApiSettings) -> Context:
        """Open the store (at the current schema), the directory and the search backend."""
        from access import Directory
        from index.store import open_store

        engine = open_store(settings.database_url)
        search: SearchBackend
        if settings.search_backend == "elasticsearch":
            from index.elastic import ElasticSearch

            search = ElasticSearch(engine)
        else:
            from index.embedded import EmbeddedSearch

            search = EmbeddedSearch(engine)
        return cls(settings, engine, SignIn(engine, Directory(settings.access), settings.access), search)
