"""Something for every role to do at once in the demo: a later census from the demo school, run
through the nightly job (reviews wait in the queue; one pupil rejected; leavers; one pupil now
living in the neighbouring LA, whose record moves there), a shielded child, a sensitive
involvement, and accesses to the shielded child that notify its LA.

Everything goes through the real paths: the census through ingest staging and the nightly run,
the people's actions through the API's own functions behind a real sign-in (password and TOTP),
so the audit trail, notifications and investigations are what the service would write. Done
once: a second start finds the census there and does nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from dataclasses import replace
from pathlib import Path
from xml.sax.saxutils import escape

from sqlalchemy import select

from access import AccessSettings, Directory, SignIn
from access.register import get_entry
from api import children as api_children
from api import la as api_la
from api import search as api_search
from api.context import ApiSettings, Context
from api.deps import Actor, ChildRef, actor
from api.schemas import OverrideBody, ShieldBody
from index import models as m
from index.embedded import EmbeddedSearch
from index.identifiers import upn_check_letter
from index.ownership import PostcodeAreas
from index.store import add_involvement, transaction
from index.vocabulary import ConsentBasis, NameKind, ServiceType, SourceKind
from ingest.nightly import run_nightly
from ingest.staging import submit_file
from ops.demo_users import Enrolled
from ops.synth.postcode_table import area_postcodes, neighbour_la, write_postcode_table

LEAVERS = 3  # pupils of the demo school left off its later census: the run ends their involvement
# Pupils sent with the UPN of a child the index holds but a record describing someone else (a
# UPN keyed onto the wrong pupil): an identifier conflict, which matching leaves to a person.
CHANGED = 6
NEIGHBOUR_CHILDREN, NEIGHBOUR_SEED = 300, 1  # the neighbouring LA's synthetic homes (postcodes only)


def stage_demo(engine: object, access: AccessSettings, enrolled: list[Enrolled], *, la: str,
               db: Path) -> list[str]:
    """Set up the demo's scenes (once); what was done, as lines to print."""
    people = {e.person.uid: e for e in enrolled}
    with transaction(engine) as session:  # type: ignore[arg-type]
        school = get_entry(session, "sam.school").organisation_code  # type: ignore[union-attr]
        sent = session.scalar(select(m.Submission.id).where(
            m.Submission.source_code == school, m.Submission.source_kind == SourceKind.CENSUS))
    if sent is not None or school is None:
        return ["scenes: already set up (the demo school's census is there)"]
    done = _census_run(engine, school, la, demo_postcode_table(engine, la, db))
    ctx = Context(ApiSettings(database_url=f"sqlite:///{db}", access=access, secure_cookie=False),
                  engine, SignIn(engine, Directory(access), access), EmbeddedSearch(engine))  # type: ignore[arg-type]
    done += _people(ctx, people, la)
    return done


def _new_upn(la: str, serial: int) -> str:
    body = f"{la}{serial:09d}"
    return upn_check_letter(body) + body


def _pupil(child: m.Child, name: m.ChildName, postcode: str | None, upn: str, *, changed: bool) -> str:
    given, born = name.given_name or "Alex", child.date_of_birth
    if changed:  # the UPN of a child the index holds, on a record that describes someone else
        given = {"female": "Imogen", "male": "Oscar"}.get(child.gender.value, "Robin")
        born, postcode = born.replace(year=born.year - 1, day=min(born.day, 28)), "MK42 9ZZ"
    sex = {"female": "F", "male": "M"}.get(child.gender.value, "U")
    return (f"<PupilOnRoll><PupilIdentifiers><UPN>{upn}</UPN><Surname>{escape(name.family_name or 'Smith')}"
            f"</Surname><Forename>{escape(given)}</Forename><Sex>{sex}</Sex>"
            f"<DOB>{born.isoformat()}</DOB></PupilIdentifiers>"
            f"<PupilStatus><EntryDate>2021-09-01</EntryDate></PupilStatus>"
            f"<HomeInformation><Address><AddressLines><AddressLine1>1 Demo Road</AddressLine1>"
            f"</AddressLines><PostCode>{postcode or 'MK40 1AA'}</PostCode></Address></HomeInformation>"
            f"</PupilOnRoll>\n")


def demo_postcode_table(engine: object, la: str, db: Path) -> tuple[Path, str, str]:
    """The demo's postcode-to-LA table beside its store (`<db>_postcode_las.csv`): the postcodes
    of the demo area's homes in its LA, and those of a synthetic neighbouring LA's; (the table,
    the neighbouring LA, a postcode there for a pupil who moves)."""
    with transaction(engine) as session:  # type: ignore[arg-type]
        own = set(session.scalars(select(m.ChildAddress.postcode).distinct()
                                  .join(m.Child, m.Child.id == m.ChildAddress.child_id)
                                  .where(m.Child.owning_la == la, m.ChildAddress.postcode.is_not(None))))
    neighbour = neighbour_la(la)
    theirs = area_postcodes(NEIGHBOUR_CHILDREN, neighbour, NEIGHBOUR_SEED)
    table = db.with_name(f"{db.stem}_postcode_las.csv")
    write_postcode_table(table, {la: own, neighbour: theirs},
                         note=f"the demo's homes in LA {la}, a neighbouring area's in LA {neighbour}")
    return table, neighbour, min(theirs - own)


def _census_run(engine: object, school: str, la: str, moves: tuple[Path, str, str]) -> list[str]:
    """A spring census of the demo school: its pupils but a few (leavers), some changed, one with
    a date of birth that is not a date (rejected), one living in the neighbouring LA now (moved
    there: the table says where a postcode is); run through the nightly job."""
    table, neighbour, away = moves
    with transaction(engine) as session:  # type: ignore[arg-type]
        ids = list(session.scalars(
            select(m.Involvement.child_id).where(m.Involvement.organisation_code == school,
                                                 m.Involvement.end_date.is_(None))
            .order_by(m.Involvement.child_id)))[:-LEAVERS]
        # The last pupil with a UPN (found on it, not left to a person) moves away.
        mover = session.scalar(select(m.ChildIdentifier.child_id).where(
            m.ChildIdentifier.child_id.in_(ids[CHANGED:]), m.ChildIdentifier.scheme == "upn")
            .order_by(m.ChildIdentifier.child_id.desc()).limit(1))
        pupils = []
        for number, child_id in enumerate(ids):
            child = session.get(m.Child, child_id)
            name = session.scalars(select(m.ChildName).where(
                m.ChildName.child_id == child_id, m.ChildName.kind == NameKind.CURRENT)).first()
            if child is None or name is None:
                continue
            postcode = session.scalar(select(m.ChildAddress.postcode)
                                      .where(m.ChildAddress.child_id == child_id))
            upn = session.scalar(select(m.ChildIdentifier.value).where(
                m.ChildIdentifier.child_id == child_id, m.ChildIdentifier.scheme == "upn"))
            if child_id == mover:
                postcode = away  # the family moved to the neighbouring LA
            # A pupil the index holds without a UPN gets one (a census pupil always has one).
            pupils.append(_pupil(child, name, postcode, upn or _new_upn(la, 800_000 + number),
                                 changed=upn is not None and number < CHANGED))
    pupils.append(f"<PupilOnRoll><PupilIdentifiers><UPN>{_new_upn(la, 990_000)}</UPN><Surname>Rejected"
                  "</Surname><Forename>Pupil</Forename><Sex>F</Sex><DOB>2016-13-40</DOB></PupilIdentifiers>"
                  "</PupilOnRoll>\n")
    xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<Message><Header><CollectionDetails>'
           "<Collection>SC</Collection><Term>SPR</Term><Year>2026</Year><ReferenceDate>2026-01-15"
           "</ReferenceDate></CollectionDetails><Source><SourceLevel>S</SourceLevel>"
           f"<LEA>{school[:3]}</LEA><Estab>{school[3:]}</Estab></Source></Header><Pupils>\n"
           f"<PupilsOnRoll>\n{''.join(pupils)}</PupilsOnRoll></Pupils></Message>\n")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "census.xml"
        path.write_text(xml, encoding="utf-8")
        submitted = submit_file(engine, path, source=school)  # type: ignore[arg-type]
    summary = run_nightly(engine, areas=PostcodeAreas.from_file(table))  # type: ignore[arg-type]
    with transaction(engine) as session:  # type: ignore[arg-type]
        reviews = session.scalar(select(m.MatchReview.id).where(m.MatchReview.owning_la == la).limit(1))
        moved = session.scalar(select(m.ChildTransfer.child_id).where(
            m.ChildTransfer.child_id == mover, m.ChildTransfer.to_la == neighbour))
    return [f"scenes: a spring census of school {school} (submission {submitted.submission_id}: "
            f"{len(pupils)} pupils, one rejected) run through the nightly job (run {summary.run_id}); "
            f"review items waiting: {'yes' if reviews else 'none'}",
            f"scenes: child {moved} now lives in LA {neighbour} (a home there on the census): the nightly "
            f"run moved the record there, listed for both LAs (GET /la/transfers); postcode table "
            f"{table} (CHILDINDEX_POSTCODE_LAS for nightly runs of your own)" if moved else
            f"scenes: no move between LAs this time (postcode table {table})"]


def _signed_in(ctx: Context, person: Enrolled, at: dt.datetime) -> Actor:
    signed = ctx.signin.sign_in(person.person.uid, person.person.user.password, person.code(at))
    return actor(ctx, signed.token)


def _find(ctx: Context, who: Actor, child_id: int, reason: str) -> None:
    """Search for the child by its number, as a practitioner does before opening its record
    (access.found: a record is opened from the user's own search results)."""
    with transaction(ctx.engine) as session:
        number = session.scalar(select(m.Child.child_number).where(m.Child.id == child_id))
    api_search.audited_search(ctx, who, json.dumps(
        {"reason": reason, "identifier_scheme": "child_number", "identifier": number}).encode())


def _people(ctx: Context, people: dict[str, Enrolled], la: str) -> list[str]:
    """The data team shields a child; a sensitive service is recorded for another; a teacher and
    a child-protection worker look at the shielded child (notifications, an investigation)."""
    now = dt.datetime.now(dt.UTC)
    with transaction(ctx.engine) as session:
        shielded, sensitive = session.scalars(
            select(m.Child.id).where(m.Child.owning_la == la, m.Child.shielded.is_(False))
            .order_by(m.Child.id.desc()).limit(2)).all()
    dana = _signed_in(ctx, people["dana.datateam"], now)
    child = ChildRef(shielded, la, False)
    api_la.shield(child, ShieldBody(shielded=True, reason="safeguarding"), ctx, dana)
    with transaction(ctx.engine) as session:
        add_involvement(session, sensitive, dict(
            service_type=ServiceType.CAMHS, organisation_name="Bedford CAMHS", organisation_code=None,
            practitioner_name="Demo CAMHS worker", contact_phone="01234 000999", contact_email=None,
            start_date=now.date(), lead_professional=False, consent_basis=ConsentBasis.CHILD_CONSENT,
            record_ref="demo scenes"))
    shielded_ref = replace(child, shielded=True)
    tess = _signed_in(ctx, people["tess.teacher"], now)
    _find(ctx, tess, shielded, "coordinate_services")
    api_children.view_record(shielded_ref, "coordinate_services", ctx, tess)
    cora = _signed_in(ctx, people["cora.protect"], now + dt.timedelta(seconds=1))
    _find(ctx, cora, shielded, "safeguarding")
    api_children.shield_override(shielded_ref, OverrideBody(reason="safeguarding"), ctx, cora)
    return [f"scenes: child {shielded} shielded by dana.datateam and seen by tess.teacher and, under the "
            f"override, by cora.protect (notifications and an investigation for LA {la}); a CAMHS "
            f"involvement (sensitive, with consent) for child {sensitive}"]
