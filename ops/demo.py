"""The demo: an embedded store with a synthetic area loaded, and a few example searches.

Run by the README's first command. A second run finds the area already loaded and only
repeats the searches.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from itertools import islice
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine, select

from index import ChildRecord, SearchQuery, add_children, open_store, transaction
from index import models as m
from index.embedded import EmbeddedSearch
from index.records import ProvenanceRef
from index.store import child_summaries, count_rows, create_submission
from index.vocabulary import SourceKind
from ops import noise
from ops.synth import iter_true_children

BATCH = 5_000


@dataclass(frozen=True)
class Example:
    """One example search: what a practitioner typed, and why it is hard."""

    title: str
    query: SearchQuery
    child_id: int  # the child the example was made from


def load_area(engine: Engine, *, children: int, la: str, seed: int) -> tuple[bool, list[int]]:
    """Load the synthetic area unless it is there already; (loaded now, child ids)."""
    marker = f"demo:{la}:{seed}:{children}"
    with transaction(engine) as session:
        existing = session.scalar(
            select(m.Submission.id).where(m.Submission.source_kind == SourceKind.SYNTHETIC,
                                          m.Submission.source_code == marker)
        )
        if existing is not None:
            ids = list(session.scalars(select(m.Child.id).where(m.Child.submission_id == existing)))
            return False, ids
        submission = create_submission(session, source_kind=SourceKind.SYNTHETIC, source_code=marker)
        ids = []
        records = _with_provenance(children, la, seed, submission)
        while batch := list(islice(records, BATCH)):
            ids += add_children(session, batch)
    return True, ids


def _with_provenance(children: int, la: str, seed: int, submission: int) -> Iterator[ChildRecord]:
    for true_id, record in iter_true_children(children, la, seed):
        yield record.model_copy(
            update={"provenance": ProvenanceRef(submission_id=submission, record_ref=f"child {true_id}")}
        )


def examples(engine: Engine, child_ids: list[int], seed: int) -> list[Example]:
    """Noisy searches for a few children of the area, the way practitioners mistype them."""
    rng = random.Random(seed)
    picks = rng.sample(child_ids, k=min(4, len(child_ids)))
    with transaction(engine) as session:
        summaries = child_summaries(session, picks)
        postcodes = dict(session.execute(
            select(m.ChildAddress.child_id, m.ChildAddress.postcode)
            .where(m.ChildAddress.child_id.in_(picks))
        ).all())
    found = [summaries[i] for i in picks if i in summaries]
    out: list[Example] = []
    for summary, (title, build) in zip(found, _EXAMPLE_KINDS, strict=False):
        base = SearchQuery(family_name=summary.family_name, given_name=summary.given_name,
                           date_of_birth=summary.date_of_birth)
        out.append(Example(title, build(base, postcodes.get(summary.child_id), rng), summary.child_id))
    return out


_EXAMPLE_KINDS = (
    ("family name mistyped", lambda q, _pc, rng: replace(q, family_name=noise.typo(q.family_name, rng))),
    ("given name as a short form, day and month swapped",
     lambda q, _pc, rng: replace(q, given_name=noise.short_form(q.given_name or "", rng),
                                 date_of_birth=noise.swap_day_month(q.date_of_birth) or q.date_of_birth)),
    ("family name and postcode, no date of birth",
     lambda q, pc, _rng: replace(q, date_of_birth=None, postcode=pc) if pc else q),
    ("one digit of the date of birth mistyped",
     lambda q, _pc, rng: replace(q, date_of_birth=noise.dob_typo(q.date_of_birth, rng,
                                                                 not_after=dt.date.today()))),
)


def command(
    children: Annotated[int, typer.Option(help="Children in the synthetic demo area.")] = 2_000,
    la: Annotated[str, typer.Option(help="LA number of the demo area.")] = "823",
    seed: Annotated[int, typer.Option(help="Seed of the synthetic area.")] = 2025,
    db: Annotated[Path, typer.Option(help="SQLite file of the demo store.")] = Path("var/demo.db"),
    serve: Annotated[bool, typer.Option(
        "--serve", help="Then start the demo directory, enrol the demo users and run the service.")] = False,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port of the service (with --serve).")] = 8000,
    ldap_port: Annotated[int, typer.Option(min=1, max=65535, help="Port of the demo slapd (with --serve).")
                         ] = 3890,
) -> None:
    """Create the embedded store, load a synthetic demo area and run a few example searches;
    with --serve, then run the real service with demo users for every role."""
    engine = open_store(f"sqlite:///{db}", create=True)
    loaded, ids = load_area(engine, children=children, la=la, seed=seed)
    search = EmbeddedSearch(engine)
    # Always (re)index: cheap for a demo area, and repairs a run stopped between load and index.
    search.index_children(ids)
    typer.echo(f"store: {db} ({'loaded now' if loaded else 'already loaded'})")
    with transaction(engine) as session:
        for table, rows in count_rows(session).items():
            typer.echo(f"  {table:<18} {rows:>9,}")
    typer.echo("\nexample searches (synthetic children):")
    for example in examples(engine, ids, seed):
        q = example.query
        typer.echo(f"\n  {example.title}: family name {q.family_name!r}, given name {q.given_name!r}, "
                   f"date of birth {q.date_of_birth}, postcode {q.postcode}")
        hits = search.search(q, limit=5)
        with transaction(engine) as session:
            summaries = child_summaries(session, [h.child_id for h in hits])
        for rank, hit in enumerate(hits, start=1):
            s = summaries[hit.child_id]
            mark = "  <- the child this example was made from" if hit.child_id == example.child_id else ""
            typer.echo(f"    {rank}. {s.child_number}  {s.given_name} {s.family_name}, "
                       f"born {s.date_of_birth}, {s.gender}, {s.town or 'no town'}  "
                       f"(score {hit.score:.2f}){mark}")
        if not hits:
            typer.echo("    no match")
    if serve:
        from ops.demo_service import serve_demo

        first = examples(engine, ids, seed)[0]
        serve_demo(engine, db, la=la, port=port, ldap_port=ldap_port, search_body=_search_body(first.query),
                   child_id=first.child_id)


def _search_body(query: SearchQuery) -> str:
    """The request body of an example search, for the printed curl command."""
    body = {"reason": "coordinate_services", "family_name": query.family_name,
            "given_name": query.given_name, "date_of_birth": query.date_of_birth, "postcode": query.postcode}
    return json.dumps({k: str(v) if k == "date_of_birth" else v for k, v in body.items() if v is not None})
