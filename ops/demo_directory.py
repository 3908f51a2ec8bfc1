"""The demo's own OpenLDAP directory: a `slapd` the project starts, its data kept under var/slapd.

Unlike the tests' throwaway server (ops/slapd.py), this one persists: the first start writes
its configuration and the demo tree with `slapadd` (offline, before the server runs) and marks
the folder complete; a later start reuses the folder as it is. A folder left half-built by an
interrupted first start has no mark and is built again from nothing, so a crash and a rerun
end the same as an uninterrupted run.

The server listens on one loopback port, without TLS (nothing leaves the machine). Its pid is
kept in var/slapd/slapd.pid; a pid file left behind by a crash is recognised: a dead process,
or a live process that is not this folder's slapd, is ignored; a live slapd of this folder
(from a run that was killed) is stopped before a fresh start so that exactly one runs.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("LDAPNOINIT", "1")  # ignore any ~/.ldaprc or /etc/ldap/ldap.conf

import ldap

from access import AccessSettings
from ops.slapd import GROUP_ROLES, SERVICE_DN, SERVICE_PASSWORD, SUFFIX, DemoUser, demo_ldif

DEFAULT_FOLDER = Path("var/slapd")
DEFAULT_PORT = 3890
SCHEMA_DIR = Path("/etc/ldap/schema")
SCHEMAS = ("core.ldif", "cosine.ldif", "inetorgperson.ldif")
START_SECONDS = 15.0

# The same access rules as the tests' directory: passwords are only ever compared, and only
# bound users (the service account) may search.
_CONFIG = """dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {folder}/slapd.pid
olcLogLevel: none

dn: cn=module,cn=config
objectClass: olcModuleList
cn: module
olcModuleLoad: back_mdb
"""

# Added after the schemas, which its indices name.
_DATABASE = """dn: olcDatabase=mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: mdb
olcSuffix: {suffix}
olcRootDN: cn=admin,{suffix}
olcDbDirectory: {folder}/data
olcDbIndex: objectClass eq
olcDbIndex: uid eq
olcDbIndex: member eq
olcAccess: {{0}}to attrs=userPassword by anonymous auth by * none
olcAccess: {{1}}to * by users read by anonymous auth by * none
"""


class DirectoryStartError(RuntimeError):
    """The demo directory could not be built or started; the message says what and where."""


def _fingerprint(users: tuple[DemoUser, ...]) -> str:
    """Changes when the demo users change, so that an old folder is rebuilt rather than trusted."""
    text = json.dumps([[u.uid, u.password, list(u.groups), u.ou] for u in users])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _run(args: list[str], what: str, stdin: str | None = None) -> None:
    done = subprocess.run(args, input=stdin, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise DirectoryStartError(f"{what} failed (exit {done.returncode}): {detail[0]}")


def _command(name: str) -> str:
    found = shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))
    if found is None:
        raise DirectoryStartError(f"{name} not found: install the Debian slapd package (ops/install.sh)")
    return found


def _pid_is_ours(pid: int, config: Path) -> bool:
    """Is `pid` a live slapd started with this folder's configuration?"""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return bool(cmdline) and cmdline[0].endswith(b"slapd") and str(config).encode() in cmdline


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the parent exits (Linux prctl PR_SET_PDEATHSIG)."""
    with contextlib.suppress(OSError):  # not Linux: the pid file still catches a leftover
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class DemoDirectory:
    """A persistent slapd under `folder`, serving `users` on 127.0.0.1:`port`."""

    users: tuple[DemoUser, ...]
    folder: Path = DEFAULT_FOLDER
    port: int = DEFAULT_PORT

    def __post_init__(self) -> None:
        self.folder = self.folder.resolve()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def config(self) -> Path:
        return self.folder / "slapd.d"

    @property
    def pid_file(self) -> Path:
        return self.folder / "slapd.pid"

    @property
    def _mark(self) -> Path:
        return self.folder / "complete.json"

    def access_settings(self, **overrides: object) -> AccessSettings:
        """Access settings that point the service at this directory."""
        return AccessSettings(
            ldap_uri=self.uri, ldap_base_dn=SUFFIX, ldap_bind_dn=SERVICE_DN,
            ldap_bind_password=SERVICE_PASSWORD, ldap_group_roles=GROUP_ROLES,  # type: ignore[arg-type]
            **overrides,  # type: ignore[arg-type]
        )

    # -- building ------------------------------------------------------------------------

    def built(self) -> bool:
        try:
            mark = json.loads(self._mark.read_text())
        except (OSError, ValueError):
            return False
        return mark.get("users") == _fingerprint(self.users) and (self.config / "cn=config.ldif").exists()

    def build(self) -> bool:
        """Write configuration and tree unless a complete folder is there; whether it built now."""
        if self.built():
            return False
        self._stop_leftover()
        shutil.rmtree(self.folder, ignore_errors=True)
        (self.folder / "data").mkdir(parents=True)
        self.config.mkdir()
        os.chmod(self.folder, 0o700)  # the tree holds (hashed) demo passwords
        slapadd = _command("slapadd")
        _run([slapadd, "-F", str(self.config), "-n0"], "writing the slapd configuration",
             _CONFIG.format(folder=self.folder))
        for schema in SCHEMAS:
            _run([slapadd, "-F", str(self.config), "-n0", "-l", str(SCHEMA_DIR / schema)],
                 f"loading the {schema} schema")
        _run([slapadd, "-F", str(self.config), "-n0"], "configuring the database",
             _DATABASE.format(folder=self.folder, suffix=SUFFIX))
        _run([slapadd, "-F", str(self.config), "-b", SUFFIX], "loading the demo directory tree",
             demo_ldif(self.users))
        # Written last: its presence means everything above is complete.
        self._mark.write_text(json.dumps({"users": _fingerprint(self.users)}))
        return True

    # -- running -------------------------------------------------------------------------

    def _leftover_pid(self) -> int | None:
        """The pid of a slapd of this folder still running from an earlier run, if any."""
        try:
            pid = int(self.pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if _pid_is_ours(pid, self.config) else None

    def _stop_leftover(self) -> None:
        pid = self._leftover_pid()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while _pid_is_ours(pid, self.config) and time.monotonic() < deadline:
                time.sleep(0.1)
        # A stale pid file (dead process, or a pid now used by something else) is just removed.
        self.pid_file.unlink(missing_ok=True)

    def start(self) -> bool:
        """Build if needed and start slapd; whether the folder was built now."""
        built = self.build()
        self._stop_leftover()
        if not _port_free(self.port):
            raise DirectoryStartError(f"port {self.port} on 127.0.0.1 is in use: choose another "
                                      "with --ldap-port")
        log = (self.folder / "slapd.log").open("ab")
        # Its own session: Ctrl-C reaches the service, which then stops slapd in order. If this
        # process dies without stopping it, the kernel sends slapd SIGTERM (and a later start
        # still finds a leftover by its pid file).
        self._process = subprocess.Popen(
            [_command("slapd"), "-F", str(self.config), "-h", f"{self.uri}/", "-d", "0"],
            stdout=log, stderr=log, start_new_session=True, preexec_fn=_die_with_parent,
        )
        log.close()
        self._wait_ready()
        return built

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        while True:
            assert self._process is not None
            if self._process.poll() is not None:
                self._process = None
                raise DirectoryStartError(f"slapd exited at start; see {self.folder / 'slapd.log'}")
            try:
                self.check()
                return
            except ldap.LDAPError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise DirectoryStartError(
                        f"slapd did not answer on {self.uri} within {START_SECONDS:.0f} s; "
                        f"see {self.folder / 'slapd.log'}") from None
                time.sleep(0.1)

    def check(self) -> None:
        """Bind as the service account: raises ldap.LDAPError if the directory does not answer."""
        conn = ldap.initialize(self.uri)
        conn.set_option(ldap.OPT_NETWORK_TIMEOUT, 1.0)
        conn.set_option(ldap.OPT_TIMEOUT, 2.0)
        try:
            conn.simple_bind_s(SERVICE_DN, SERVICE_PASSWORD)
        finally:
            conn.unbind_s()

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        self.pid_file.unlink(missing_ok=True)

    def __enter__(self) -> DemoDirectory:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
