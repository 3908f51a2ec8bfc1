"""Access configuration, from CHILDINDEX_ACCESS_* environment variables (or passed in).

Secrets (the directory service password, the TOTP encryption keys) are SecretStr so that they
never appear in a repr, a log line or an error message.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class AccessSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHILDINDEX_ACCESS_", extra="ignore")

    # Directory (step 1).
    ldap_uri: str = "ldap://127.0.0.1:389"
    ldap_base_dn: str = "dc=childindex,dc=test"
    # `{username}` is replaced by the escaped user name; nothing else is substituted.
    ldap_user_filter: str = "(&(objectClass=inetOrgPerson)(uid={username}))"
    ldap_uid_attribute: str = "uid"
    # If set (e.g. "uid={username},ou=people,dc=..."), bind directly to this DN instead of
    # searching for the user first; the user name is DN-escaped.
    ldap_user_dn_template: str | None = None
    # Service account used to search; empty means search anonymously.
    ldap_bind_dn: str | None = None
    ldap_bind_password: SecretStr | None = None
    # Group DN -> role or capability name (see access.roles). JSON in the environment.
    ldap_group_roles: dict[str, str] = Field(default_factory=dict)
    ldap_group_base_dn: str | None = None  # defaults to ldap_base_dn
    ldap_starttls: bool = False
    ldap_ca_file: str | None = None
    ldap_timeout_seconds: float = 5.0
    ldap_network_timeout_seconds: float = 3.0
    username_max_length: int = 64

    # TOTP (step 2). Fernet keys, newest first; older keys still decrypt (rotation).
    totp_keys: list[SecretStr] = Field(default_factory=list)
    totp_issuer: str = "Child index"
    enrolment_token_hours: int = 72

    # Lockout after repeated failures of either step.
    lockout_threshold: int = 5
    lockout_minutes: int = 30
    # And by client address (spraying many user names from one place): failures within
    # lockout_minutes of each other, of any user name, lock the address for lockout_minutes.
    client_lockout_threshold: int = 20

    # Server-side sessions.
    session_idle_minutes: int = 15
    session_max_hours: int = 8

    # Unusual use: a user is flagged when they viewed more than `factor` times the median
    # number of distinct children viewed by their peers, and at least `min_children`.
    unusual_use_factor: float = 5.0
    unusual_use_min_children: int = 20

    # Rate limits per user (access.rate_limits): beyond them a search or record view is refused
    # with 429 (and audited). A practitioner finds a child in a search or two; scraping needs
    # thousands.
    search_limit_per_minute: int = 20
    search_limit_per_hour: int = 200
    search_limit_per_day: int = 600
    view_limit_per_minute: int = 20
    view_limit_per_hour: int = 150
    view_limit_per_day: int = 500
    # Unusual use, counted from searches (access.usage): a user is flagged for more searches
    # than these in any clock hour or day; for at least `unusual_results_unopened` results shown
    # when they opened fewer than `unusual_results_opened_share` of them; for at least
    # `unusual_identifier_runs` identifier searches whose numbers follow each other (within
    # `unusual_identifier_gap`); for at least `unusual_near_misses` searches that matched
    # children on the date of birth or postcode alone (the evidence rule showed none).
    unusual_searches_per_hour: int = 60
    unusual_searches_per_day: int = 250
    unusual_results_unopened: int = 100
    unusual_results_opened_share: float = 0.05
    unusual_identifier_runs: int = 5
    unusual_identifier_gap: int = 20
    unusual_near_misses: int = 10
    # A practitioner opens a record found by one of their own searches within this many hours,
    # or one their service works with (access.found).
    found_window_hours: int = 24

    @field_validator("ldap_user_filter")
    @classmethod
    def _filter_has_placeholder(cls, value: str) -> str:
        if value.count("{username}") != 1:
            raise ValueError("ldap_user_filter must contain {username} exactly once")
        return value

    @field_validator("lockout_threshold", "lockout_minutes", "client_lockout_threshold",
                     "session_idle_minutes", "session_max_hours", "enrolment_token_hours",
                     "search_limit_per_minute", "search_limit_per_hour", "search_limit_per_day",
                     "view_limit_per_minute", "view_limit_per_hour", "view_limit_per_day",
                     "unusual_searches_per_hour", "unusual_searches_per_day", "unusual_results_unopened",
                     "unusual_identifier_runs", "unusual_identifier_gap", "unusual_near_misses",
                     "found_window_hours")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value <= 0:
            raise ValueError("must be positive")
        return value
