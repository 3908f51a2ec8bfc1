"""`childindex serve`: the HTTP service (api.create_app) under uvicorn, on the loopback by default.

Configuration comes from the environment (CHILDINDEX_API_*, CHILDINDEX_ACCESS_*; see
api/context.py and access/settings.py); several workers each build the app from it, through
the factory `ops.serve:app_from_environment`. The demo runs the same app in-process with its
own settings (ops/demo_service.py).
"""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError

from access import TotpConfigError
from access.anchor import AnchorError, AuditSettings, read_keys
from index import StoreError

LOOPBACK = "127.0.0.1"


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=2)


def _require_audit_key() -> None:
    """The service writes audit entries: without the key they could not be anchored."""
    path = AuditSettings().key_file
    if path is None:
        raise AnchorError("CHILDINDEX_AUDIT_KEY_FILE is not set: the audit trail needs a key outside "
                          "the database (make one with `childindex audit new-key --key-file PATH`)")
    read_keys(path)


def app_from_environment() -> FastAPI:
    """The service configured from the environment (a uvicorn factory)."""
    from api.app import create_app
    from api.context import ApiSettings
    from api.observability import configure_logging

    settings = ApiSettings()
    if settings.log_json:
        configure_logging()
    return create_app(settings)


def run(app: FastAPI | str, *, host: str, port: int, workers: int = 1, factory: bool = False) -> None:
    """Run until interrupted (Ctrl-C or SIGTERM stop it cleanly). Access logs are off: a request
    line would hold child ids and a log must not grow with who looked at whom (the audit trail
    records that)."""
    uvicorn.run(app, host=host, port=port, workers=workers, factory=factory, access_log=False,
                log_level="warning", server_header=False, log_config=None)


def command(
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    host: Annotated[str, typer.Option(help="Address to listen on (loopback unless behind a proxy).")
                    ] = LOOPBACK,
    workers: Annotated[int, typer.Option(min=1, max=16, help="Worker processes.")] = 1,
) -> None:
    """Run the HTTP service, configured from the environment (OpenAPI documentation at /docs if
    CHILDINDEX_API_DOCS is on)."""
    try:
        _require_audit_key()
        service = app_from_environment()  # fail here, with a clear message, rather than in every worker
    except ValidationError as exc:
        fields = ", ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise _fail(f"service settings not valid ({fields})") from None
    except (StoreError, TotpConfigError, AnchorError) as exc:
        raise _fail(str(exc)) from None
    docs = (f" (documentation: http://{host}:{port}/docs)" if service.state.context.settings.docs
            else " (documentation off: CHILDINDEX_API_DOCS=true turns it on)")
    typer.echo(f"serving on http://{host}:{port}{docs}; Ctrl-C stops")
    run("ops.serve:app_from_environment", host=host, port=port, workers=workers, factory=True)
