"""A throwaway PostgreSQL server on a loopback port, for the test suite and benchmarks.

Uses the Debian `postgresql` package's binaries (installed by the test command). When run as
root the server runs as the unprivileged `postgres` user, as PostgreSQL requires.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

DATABASE = "childindex"
USER = "childindex"


class PostgresUnavailable(RuntimeError):
    pass


def _bin_dir() -> Path:
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name)
    )
    if not versions:
        raise PostgresUnavailable(
            "PostgreSQL server binaries not found under /usr/lib/postgresql: "
            "install the Debian package `postgresql` (the test command does this)"
        )
    return versions[-1].parent


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class RunningPostgres:
    url: str
    data_dir: Path


@contextmanager
def throwaway_postgres() -> Iterator[RunningPostgres]:
    """Start a fresh cluster in a temporary directory; stop and remove it afterwards."""
    bin_dir = _bin_dir()
    as_user: str | None = None
    if os.geteuid() == 0:
        as_user = "postgres"
        try:
            owner = pwd.getpwnam(as_user)
        except KeyError:
            raise PostgresUnavailable("no `postgres` user to run the server as") from None
    base = Path(tempfile.mkdtemp(prefix="childindex-pg-"))
    data_dir = base / "data"
    if as_user:
        os.chown(base, owner.pw_uid, owner.pw_gid)
    port = _free_port()

    def run(*args: str) -> None:
        subprocess.run(
            [str(bin_dir / args[0]), *args[1:]], user=as_user, check=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=base,
        )

    try:
        run("initdb", "-D", str(data_dir), "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync")
        options = (
            f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off -c synchronous_commit=off"
        )
        run("pg_ctl", "start", "-D", str(data_dir), "-w", "-t", "60", "-l", str(base / "log"),
            "-o", options)
        run("createdb", "-h", "127.0.0.1", "-p", str(port), "-U", USER, DATABASE)
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(base, ignore_errors=True)
        output = exc.stdout.decode(errors="replace")[-2000:] if exc.stdout else ""
        raise PostgresUnavailable(f"could not start PostgreSQL: {output}") from None
    try:
        yield RunningPostgres(
            url=f"postgresql+psycopg://{USER}@127.0.0.1:{port}/{DATABASE}", data_dir=data_dir
        )
    finally:
        subprocess.run(
            [str(bin_dir / "pg_ctl"), "stop", "-D", str(data_dir), "-m", "immediate"],
            user=as_user, check=False, capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)
