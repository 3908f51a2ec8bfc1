"""The README's first command with --serve: the demo directory, the demo users and the service.

A real slapd (ops.demo_directory) with its data in a temporary folder, a small demo area, and the
real app: every demo user signs in with their password and the TOTP secret the demo prints.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from access.register import RegisterStatus, get_entry, status_of
from access.roles import Role
from api.app import create_app
from api.context import ApiSettings
from index import open_store, transaction
from ops.demo import load_area
from ops.demo_directory import DemoDirectory, DirectoryStartError
from ops.demo_service import demo_access, describe_users, how_to_sign_in
from ops.demo_users import DEMO_PEOPLE, Enrolled

LA = "823"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Engine, Path, Path]]:
    """A small demo store (database file, engine), and where the directory and key live."""
    base = tmp_path_factory.mktemp("demo")
    db = base / "demo.db"
    engine = open_store(f"sqlite:///{db}", create=True)
    load_area(engine, children=200, la=LA, seed=7)
    yield db, engine, base / "slapd", base / "totp.key"
    engine.dispose()


def _sign_in(client: TestClient, person_uid: str, password: str, code: str) -> httpx.Response:
    return client.post("/signin", json={"username": person_uid, "password": password, "code": code})


def test_every_demo_user_signs_in_with_the_printed_secret(demo: tuple[Path, Engine, Path, Path]) -> None:
    db, engine, folder, key = demo
    with demo_access(engine, la=LA, ldap_port=_free_port(), folder=folder, key_file=key) as (access, users):
        assert (folder / "slapd.pid").exists()
        assert {e.person.uid for e in users} == {p.uid for p in DEMO_PEOPLE}
        assert {e.person.role for e in users} == set(Role)  # every role
        printed = describe_users(users)
        app = create_app(ApiSettings(database_url=f"sqlite:///{db}", access=access, secure_cookie=False))
        # Like a browser on the service's own page: the client keeps each sign-in's cookie.
        with TestClient(app, headers={"Origin": "http://testserver"}) as client:
            for e in users:
                assert e.secret in printed and e.provisioning_uri in printed
                assert e.provisioning_uri.startswith("otpauth://totp/")
                response = _sign_in(client, e.person.uid, e.person.user.password, _printed_code(e))
                assert response.status_code == 200, (e.person.uid, response.text)
                body = response.json()
                assert (body["user_id"], body["role"], body["la"]) == (e.person.uid, e.person.role.value, LA)
                if e.person.uid == "cora.protect":
                    assert body["capabilities"] == ["child_protection"]
                assert body["token"] is None  # a browser gets the session as a cookie only
                me = client.get("/me")
                assert me.status_code == 200 and me.json()["organisation"] == e.organisation
            # The printed example search works for the practitioner it names.
            teacher = next(e for e in users if e.person.uid == "tess.teacher")
            printed_session = how_to_sign_in("http://127.0.0.1:8000", teacher, "{}")
            assert "tess.teacher" in printed_session and '"bearer": true' in printed_session
            wrong = _sign_in(client, "tess.teacher", "not-the-password", _printed_code(teacher))
            assert wrong.status_code == 401
    # Stopped on leaving: no slapd left behind, no pid file.
    assert not (folder / "slapd.pid").exists()
    today = dt.date.today()
    with transaction(engine) as session:
        for person in DEMO_PEOPLE:
            assert status_of(get_entry(session, person.uid), today) is RegisterStatus.OK


def _printed_code(e: Enrolled) -> str:
    """What a person types: the code of the printed secret, from the otpauth URI as an app reads it."""
    return pyotp.parse_uri(e.provisioning_uri).now()


def test_a_second_start_reuses_the_directory_and_the_secrets(demo: tuple[Path, Engine, Path, Path]) -> None:
    _db, engine, folder, key = demo
    with demo_access(engine, la=LA, ldap_port=_free_port(), folder=folder, key_file=key) as (_, first):
        pass
    mark = (folder / "complete.json").stat().st_mtime_ns
    # A stale pid file: a process that is not this folder's slapd (here: the test itself).
    (folder / "slapd.pid").write_text(f"{os.getpid()}\n")
    with demo_access(engine, la=LA, ldap_port=_free_port(), folder=folder, key_file=key) as (_, second):
        assert (folder / "slapd.pid").read_text().strip() != str(os.getpid())
    assert (folder / "complete.json").stat().st_mtime_ns == mark  # not rebuilt
    assert [(e.person.uid, e.secret) for e in second] == [(e.person.uid, e.secret) for e in first]


def test_a_leftover_slapd_is_stopped_and_a_half_built_folder_rebuilt(tmp_path: Path) -> None:
    users = tuple(p.user for p in DEMO_PEOPLE[:2])
    folder = tmp_path / "slapd"
    first = DemoDirectory(users, folder=folder, port=_free_port())
    first.start()
    pid = int((folder / "slapd.pid").read_text().split()[0])
    first._process = None  # as if the demo had been killed without stopping slapd
    second = DemoDirectory(users, folder=folder, port=_free_port())
    try:
        assert second.start() is False  # reused
        second.check()
        assert not Path(f"/proc/{pid}").exists() or b"slapd" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    finally:
        second.stop()
    (folder / "complete.json").unlink()  # an interrupted first build leaves no mark
    third = DemoDirectory(users, folder=folder, port=_free_port())
    try:
        assert third.start() is True
    finally:
        third.stop()


def test_a_busy_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        directory = DemoDirectory(tuple(p.user for p in DEMO_PEOPLE[:1]), folder=tmp_path / "s", port=port)
        with pytest.raises(DirectoryStartError, match=f"port {port} on 127.0.0.1 is in use"):
            directory.start()


def test_childindex_serve_runs_the_app_under_uvicorn(demo: tuple[Path, Engine, Path, Path]) -> None:
    """`childindex serve` in its own process, configured from the environment, as in production."""
    db, engine, folder, key = demo
    port = _free_port()
    with demo_access(engine, la=LA, ldap_port=_free_port(), folder=folder, key_file=key) as (access, users):
        env = {**os.environ, "CHILDINDEX_API_DATABASE_URL": f"sqlite:///{db}",
               "CHILDINDEX_API_SECURE_COOKIE": "false", "CHILDINDEX_API_DOCS": "true",
               "CHILDINDEX_ACCESS_LDAP_URI": access.ldap_uri,
               "CHILDINDEX_ACCESS_LDAP_BIND_DN": access.ldap_bind_dn or "",
               "CHILDINDEX_ACCESS_LDAP_BIND_PASSWORD": access.ldap_bind_password.get_secret_value()
               if access.ldap_bind_password else "",
               "CHILDINDEX_ACCESS_LDAP_GROUP_ROLES": json.dumps(access.ldap_group_roles),
               "CHILDINDEX_ACCESS_TOTP_KEYS": json.dumps([k.get_secret_value() for k in access.totp_keys])}
        childindex = Path(sys.executable).parent / "childindex"
        log = folder.parent / "serve.log"
        with log.open("wb") as out:
            server = subprocess.Popen([str(childindex), "serve", "--port", str(port)],
                                      env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_for(base, server, log)
            assert httpx.get(f"{base}/docs").status_code == 200
            assert "/signin" in httpx.get(f"{base}/openapi.json").json()["paths"]
            auditor = next(e for e in users if e.person.role is Role.AUDITOR)
            # The next time-step's code (within the tolerated drift): never spent by the sign-ins
            # earlier in this module, whichever step they fell in.
            code = pyotp.TOTP(auditor.secret).at(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30))
            signed = httpx.post(f"{base}/signin", json={"username": auditor.person.uid,
                                                         "password": auditor.person.user.password,
                                                         "code": code, "bearer": True})
            assert signed.status_code == 200, signed.text
            token = signed.json()["token"]
            me = httpx.get(f"{base}/me", headers={"authorization": f"Bearer {token}"})
            assert me.json()["role"] == "auditor"
            replayed = httpx.post(f"{base}/signin", json={"username": auditor.person.uid,
                                                           "password": auditor.person.user.password,
                                                           "code": code})
            assert replayed.status_code == 401
        finally:
            server.terminate()
            server.wait(timeout=10)


def _wait_for(base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    # Generous: the machine may be busy, and the test is about behaviour, not start-up time.
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"childindex serve exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            httpx.get(f"{base}/openapi.json", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail(f"childindex serve did not answer within 90 s: {log.read_text(errors='replace')[-2000:]}")
