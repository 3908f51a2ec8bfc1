"""`childindex review ...`: the LA data team's review queue on the command line.

list (by priority), show (both children side by side with the matcher's explanation), decide
(same: merge; different: keep apart), split (undo a merge), history (of one child). Every
decision names the user and a coded reason.
"""

from __future__ import annotations

from typing import Annotated

import typer

from index import StoreError, StoreSettings, open_store, transaction
from index.vocabulary import MatchReason
from matching import Verdict
from matching.review import ReviewError, decide_review, history, review_item, review_queue, split_merge

review_app = typer.Typer(
    no_args_is_help=True, help="The LA data team's review queue: possible matches, merges, splits."
)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: $CHILDINDEX_DATABASE_URL or sqlite:///var/childindex.db)."),
]
ByOption = Annotated[str, typer.Option("--by", help="Your user id (recorded with the decision).")]
ReasonOption = Annotated[MatchReason, typer.Option("--reason", help="Why (a coded reason).")]


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=2)


def _engine(db: str | None):  # type: ignore[no-untyped-def]
    try:
        return open_store(db or StoreSettings().database_url)
    except StoreError as exc:
        raise _fail(str(exc)) from None


@review_app.command("list")
def list_command(
    db: DbOption = None,
    la: Annotated[str | None, typer.Option("--la", help="Only this LA's queue.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 50,
) -> None:
    """Open reviews, highest priority first."""
    with transaction(_engine(db)) as session:
        items = review_queue(session, owning_la=la, limit=limit)
        if not items:
            typer.echo("no open reviews")
        for item in items:
            p = f"{item.probability:.4f}" if item.probability is not None else "-"
            typer.echo(f"{item.id:>6}  priority {item.priority:>2}  p={p}  {item.rule:<40} "
                       f"child {item.child.child_number if item.child else '-'} ~ "
                       f"{item.candidate.child_number if item.candidate else '-'}")


@review_app.command("show")
def show_command(review_id: int, db: DbOption = None) -> None:
    """Both children side by side, with the matcher's per-field explanation."""
    with transaction(_engine(db)) as session:
        try:
            typer.echo(review_item(session, review_id).side_by_side())
        except ReviewError as exc:
            raise _fail(str(exc)) from None


@review_app.command("decide")
def decide_command(
    review_id: int,
    verdict: Annotated[Verdict, typer.Argument(help="same (merge) or different (keep apart)")],
    by: ByOption,
    reason: ReasonOption,
    db: DbOption = None,
) -> None:
    """Decide an open review: `same` merges the two children, `different` keeps them apart."""
    try:
        with transaction(_engine(db)) as session:
            merge_id = decide_review(session, review_id, verdict, by=by, reason=reason)
    except ReviewError as exc:
        raise _fail(str(exc)) from None
    if merge_id is None:
        typer.echo(f"review {review_id}: different children, recorded")
    else:
        typer.echo(f"review {review_id}: same child, merged (merge {merge_id}; undo with "
                   f"`childindex review split {merge_id}`)")


@review_app.command("split")
def split_command(
    merge_id: int, by: ByOption, reason: ReasonOption = MatchReason.WRONG_MERGE, db: DbOption = None,
) -> None:
    """Undo a merge: the merged child comes back with everything it had."""
    try:
        with transaction(_engine(db)) as session:
            kept, restored = split_merge(session, merge_id, by=by, reason=reason)
    except ReviewError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"merge {merge_id} split: child {restored} restored beside child {kept}")


@review_app.command("history")
def history_command(child_id: int, db: DbOption = None) -> None:
    """Every review, decision, merge and split that involved a child."""
    with transaction(_engine(db)) as session:
        items = history(session, child_id)
        if not items:
            typer.echo(f"no reviews involve child {child_id}")
        for item in items:
            when = item.decided_at or item.opened_at
            reason = item.decision_reason.value if item.decision_reason else ""
            merge = f" merge {item.merge_id}" if item.merge_id else ""
            typer.echo(f"{item.id:>6}  {item.status.value:<10} {item.rule:<40} "
                       f"{when:%Y-%m-%d %H:%M} {item.decided_by or '-'} {reason}{merge}")
