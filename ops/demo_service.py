"""The demo service: the demo store behind the real HTTP service, with a local directory and
enrolled demo users for every role (`childindex demo --serve`, the README's first command).

Order: start the demo directory (ops/demo_directory.py), register and enrol the demo users
(ops/demo_users.py), print who they are with their TOTP secrets and how to sign in, then run
the service in the foreground. Ctrl-C stops the service and then the directory.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from sqlalchemy import Engine

from access import AccessSettings
from access.anchor import add_key, read_keys, use_keys
from api.app import create_app
from api.context import ApiSettings
from ops.demo_directory import DEFAULT_FOLDER, DemoDirectory, DirectoryStartError
from ops.demo_users import DEMO_PEOPLE, Enrolled, demo_key, set_up
from ops.serve import LOOPBACK, run

AUDIT_KEY_FILE = Path("var/demo/audit.key")
AUDIT_CHECKPOINTS = Path("var/demo/audit-checkpoints")


@contextmanager
def demo_access(engine: Engine, *, la: str, ldap_port: int, folder: Path = DEFAULT_FOLDER,
                key_file: Path | None = None) -> Iterator[tuple[AccessSettings, list[Enrolled]]]:
    """The demo directory running and every demo user registered and enrolled; stopped on exit."""
    directory = DemoDirectory(tuple(p.user for p in DEMO_PEOPLE), folder=folder, port=ldap_port)
    built = directory.start()
    try:
        typer.echo(f"\ndirectory: slapd on {directory.uri}, data in {directory.folder} "
                   f"({'created now' if built else 'reused'})")
        key = demo_key(key_file) if key_file else demo_key()
        settings = directory.access_settings(totp_keys=[key])
        yield settings, set_up(engine, settings, la=la)
    finally:
        directory.stop()


def describe_users(enrolled: list[Enrolled]) -> str:
    lines = ["\ndemo users (synthetic; the same every start):"]
    for e in enrolled:
        lines.append(f"\n  {e.person.uid:<14} password {e.person.user.password:<22} {e.person.role.value}, "
                     f"{e.person.what}, {e.organisation}")
        lines.append(f"  {'':<14} TOTP secret {e.secret}   {e.provisioning_uri}")
    return "\n".join(lines)


def qr_codes(enrolled: list[Enrolled]) -> str:
    """Each user's secret as a QR code for an authenticator app, drawn in the terminal (segno)."""
    import io

    import segno

    out = io.StringIO()
    for e in enrolled:
        out.write(f"\n{e.person.uid}: scan into an authenticator app\n")
        segno.make(e.provisioning_uri, error="m").terminal(out=out, compact=True, border=2)
    return out.getvalue()


def how_to_sign_in(base: str, user: Enrolled, search_body: str, child_id: int | str = "CHILD_ID") -> str:
    """A copy-and-paste session: a code, sign-in, one search, one record opened."""
    # A program asks for its token in the body; a browser gets only the HttpOnly cookie.
    credentials = json.dumps({"username": user.person.uid, "password": user.person.user.password,
                              "bearer": True})
    # The code is spliced in by the shell, outside the single quotes.
    body = credentials[:-1] + ', "code": "\'$code\'"}'
    token_of = ".venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)[\"token\"])'"
    return "\n".join([
        "\nsign in (an authenticator app with a secret above gives the code, or compute it):",
        f"  code=$(.venv/bin/python -c 'import pyotp; print(pyotp.TOTP(\"{user.secret}\").now())')",
        f"  token=$(curl -s {base}/signin -H 'content-type: application/json' \\",
        f"          -d '{body}' | {token_of})",
        f"  curl -s {base}/search -H \"authorization: Bearer $token\" -H 'content-type: application/json' \\",
        f"       -d {shlex.quote(search_body)}",
        f"  curl -s '{base}/children/{child_id}?reason=coordinate_services' "
        "-H \"authorization: Bearer $token\"",
        "a code is accepted once: wait for the next one (30 s) before signing in again as the same user.",
    ])


def serve_demo(engine: Engine, db: Path, *, la: str, port: int, ldap_port: int, search_body: str,
               child_id: int) -> None:
    """Directory, users, then the service in the foreground until Ctrl-C."""
    try:
        _serve_demo(engine, db, la=la, port=port, ldap_port=ldap_port, search_body=search_body,
                    child_id=child_id)
    except DirectoryStartError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2) from None


def anchor_demo_audit(key_file: Path = AUDIT_KEY_FILE, checkpoints: Path = AUDIT_CHECKPOINTS) -> None:
    """The demo's audit key (made once, like its TOTP key) and checkpoint directory, unless the
    environment names others; this process signs with it from now on."""
    if "CHILDINDEX_AUDIT_KEY_FILE" not in os.environ:
        if not key_file.exists():
            add_key(key_file)
        os.environ["CHILDINDEX_AUDIT_KEY_FILE"] = str(key_file)
    os.environ.setdefault("CHILDINDEX_AUDIT_CHECKPOINT_DIR", str(checkpoints))
    use_keys(read_keys(Path(os.environ["CHILDINDEX_AUDIT_KEY_FILE"])))


def _serve_demo(engine: Engine, db: Path, *, la: str, port: int, ldap_port: int, search_body: str,
                child_id: int) -> None:
    anchor_demo_audit()
    with demo_access(engine, la=la, ldap_port=ldap_port) as (access, enrolled):
        from ops.demo_scenes import stage_demo

        for line in stage_demo(engine, access, enrolled, la=la, db=db):
            typer.echo(line)
        base = f"http://{LOOPBACK}:{port}"
        practitioner = next(e for e in enrolled if e.person.uid == "tess.teacher")
        typer.echo(how_to_sign_in(base, practitioner, search_body, child_id))
        typer.echo(qr_codes(enrolled))
        typer.echo(describe_users(enrolled))
        settings = ApiSettings(database_url=f"sqlite:///{db}", access=access, secure_cookie=False,
                               docs=True)
        typer.echo(f"\nservice: {base}  (OpenAPI documentation: {base}/docs); Ctrl-C stops it and slapd")
        typer.echo(f"\nsign in with a browser: {base}/sign-in  (each user above: user name, password, "
                   "and the code from an authenticator app holding their secret or QR code)")
        # uvicorn re-raises the signal that stopped it; as an exception, SIGTERM (like Ctrl-C)
        # unwinds through the `with` above, which stops slapd, instead of killing the process.
        signal.signal(signal.SIGTERM, _exit_on_signal)
        run(create_app(settings), host=LOOPBACK, port=port)


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)
