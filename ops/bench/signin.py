"""Sign-in timing: does an unknown user name answer sooner than a known one with a wrong
password (docs/security.md)? Both refused, against a throwaway demo slapd (ops.slapd) and a
SQLite store, interleaved so that the machine's load falls on both alike; medians printed.
Lockouts are set out of reach here only, so every attempt takes the directory path."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from typing import Annotated

import typer

from access.directory import Directory
from access.settings import AccessSettings
from access.signin import SignIn, SignInRefused
from access.totp import new_key
from index.store import make_engine, upgrade
from ops.machine import describe_machine
from ops.slapd import GROUP_ROLES, SERVICE_DN, SERVICE_PASSWORD, SUFFIX, demo_directory

KNOWN = "pat.practitioner"
WRONG = "not-the-Password-1"


def _median_ms(values: list[float]) -> str:
    ordered = sorted(values)
    p10, p90 = ordered[len(ordered) // 10], ordered[len(ordered) * 9 // 10]
    return f"median {statistics.median(ordered) * 1000:.2f} ms (p10 {p10 * 1000:.2f}, p90 {p90 * 1000:.2f})"


def run(attempts: int) -> str:
    with demo_directory() as server, tempfile.TemporaryDirectory() as tmp:
        settings = AccessSettings(
            ldap_uri=server.ldap_uri, ldap_base_dn=SUFFIX, ldap_bind_dn=SERVICE_DN,
            ldap_bind_password=SERVICE_PASSWORD, ldap_group_roles=GROUP_ROLES,  # type: ignore[arg-type]
            totp_keys=[new_key()], lockout_threshold=10**9, client_lockout_threshold=10**9)  # type: ignore[list-item]
        engine = make_engine(f"sqlite:///{tmp}/store.db")
        upgrade(engine)
        signin = SignIn(engine, Directory(settings), settings)

        def once(username: str) -> float:
            started = time.perf_counter()
            try:
                signin.sign_in(username, WRONG, "000000", client="198.51.100.7")
            except SignInRefused as exc:
                assert exc.reason == "bad_credentials", exc.reason
            return time.perf_counter() - started

        for i in range(5):  # warm both paths
            once(KNOWN), once(f"warm.{i}")
        known, unknown = [], []
        for i in range(attempts):
            known.append(once(KNOWN))
            unknown.append(once(f"nobody.{i}"))
        engine.dispose()
    return "\n".join([
        f"sign-in timing, {attempts} attempts each ({describe_machine()}; "
        f"load average {os.getloadavg()[0]:.1f})",
        f"  known user, wrong password: {_median_ms(known)}",
        f"  unknown user name:          {_median_ms(unknown)}",
    ])


def command(attempts: Annotated[int, typer.Option(min=5, help="Attempts of each kind.")] = 200) -> None:
    """Time refused sign-ins: an unknown user name against a known one with a wrong password."""
    typer.echo(run(attempts))
