"""`childindex index ...`: the Elasticsearch search index, rebuilt, checked and caught up from
the store (`drain` pushes the children queued in the search outbox, index.outbox).

Connection settings come from CHILDINDEX_ES_* (see index.elastic.ElasticSettings).
"""

from __future__ import annotations

from typing import Annotated

import typer

from index import StoreError, StoreSettings, outbox
from index.elastic import ElasticIndexError, ElasticSearch, VerifyReport
from index.search import SearchUnavailable
from index.store import open_store

index_app = typer.Typer(no_args_is_help=True,
                        help="The Elasticsearch search index: rebuild, verify, drain the outbox.")

DatabaseOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: $CHILDINDEX_DATABASE_URL or sqlite:///var/childindex.db)."),
]


def _backend(db: str | None) -> ElasticSearch:
    try:
        return ElasticSearch(open_store(db or StoreSettings().database_url))
    except StoreError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2) from None


def _describe(report: VerifyReport) -> str:
    return (f"store {report.in_store}, index {report.in_index}: missing {len(report.missing)}, "
            f"extra {len(report.extra)}, stale {len(report.stale)}, misplaced {len(report.misplaced)}")


@index_app.command("rebuild")
def rebuild(db: DatabaseOption = None) -> None:
    """Index every searchable child into new versioned indices, swap the aliases in one step
    (searches are answered throughout), then repair what changed meanwhile."""
    backend = _backend(db)
    try:
        report = backend.rebuild()
        typer.echo(f"indexed {report.children} children into {len(report.indices)} indices "
                   f"(version {report.version}); removed {len(report.removed)} old indices")
        after = backend.verify(repair=True)
    except (SearchUnavailable, ElasticIndexError) as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2) from None
    typer.echo(_describe(after) + ("; repaired" if after.repaired else "; consistent"))


@index_app.command("verify")
def verify(
    db: DatabaseOption = None,
    repair: Annotated[
        bool, typer.Option("--repair", help="Reindex or remove every child that differs.")
    ] = False,
    la: Annotated[str | None, typer.Option("--la", help="Check one LA only (three-digit number).")] = None,
) -> None:
    """Compare the store with the index (ids, LA and a content hash per child). Exit 1 when
    they differ and were not repaired."""
    backend = _backend(db)
    try:
        report = backend.verify(repair=repair, owning_la=la)
    except (SearchUnavailable, ElasticIndexError) as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2) from None
    typer.echo(_describe(report))
    if report.consistent:
        typer.echo("consistent")
    elif report.repaired:
        typer.echo("repaired")
    else:
        raise typer.Exit(code=1)


@index_app.command("drain")
def drain(
    db: DatabaseOption = None,
    wait: Annotated[float, typer.Option(
        "--wait", min=0, help="While Elasticsearch is down, retry for up to this many seconds.")] = 0.0,
) -> None:
    """Push the children queued in the search outbox to Elasticsearch. Exit 3 when
    Elasticsearch is unavailable: the rest stay queued for the next drain."""
    backend = _backend(db)
    try:
        report = outbox.drain_until_caught_up(backend.engine, backend, timeout_s=wait,
                                              pause_s=min(5.0, max(wait / 10, 0.5)))
    except ElasticIndexError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2) from None
    finally:
        backend.close()
    typer.echo(f"pushed {report.pushed} children; {report.pending} still queued")
    if report.unavailable is not None:
        typer.secho(f"error: {report.unavailable}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=3)


__all__ = ["index_app"]
