"""Subject access: everything the index holds about one child, where each value came from, and
every access to the record (who, organisation, when, reason), for the owning LA's data team to
give to the child or family, as JSON (`subject_access`) and as a PDF a family can read
(`subject_access_pdf`, reportlab). The caller audits the production in the same transaction.

Plain functions over a session, so the CLI (`childindex sar`), the API and the web pages all
produce the same report. Search criteria of the trail's entries are left out: they are what a
practitioner typed, not data about this child, and may name other children.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from access.audit import ACTIONS, REASONS, who_looked_at
from index import models as m

# What the PDF calls each part of the record, in the order it shows them.
SECTIONS = (("names", "Names"), ("addresses", "Addresses"), ("identifiers", "Identifiers"),
            ("carers", "Parents and carers"), ("involvements", "Services working with the child"),
            ("opt_outs", "Opt-outs of sharing"), ("transfers", "Moves between local authorities"))


class NoSuchChild(LookupError):
    pass


def _provenance(row: Any, submissions: dict[int, m.Submission]) -> dict[str, Any]:
    sub = submissions.get(row.submission_id) if row.submission_id else None
    return {
        "source": sub.source_kind.value if sub else "recorded in the index",
        "sender": sub.source_code if sub else None,
        "file": sub.file_name if sub else None,
        "received": sub.received_at.date().isoformat() if sub and sub.received_at else None,
        "record": row.record_ref,
    }


def _date(value: dt.date | dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def find_child(session: Session, child_number: str) -> int:
    found = session.scalar(select(m.Child.id).where(m.Child.child_number == child_number))
    if found is None:
        raise NoSuchChild("no child with that child number")
    return found


def subject_access(session: Session, child_id: int, *, now: dt.datetime) -> dict[str, Any]:
    """The report as JSON-ready data: the record with provenance, and every access."""
    child = session.scalars(select(m.Child).where(m.Child.id == child_id).options(
        selectinload(m.Child.names), selectinload(m.Child.addresses), selectinload(m.Child.identifiers),
        selectinload(m.Child.carers),
        selectinload(m.Child.involvements).selectinload(m.Involvement.indicators))).one_or_none()
    if child is None:
        raise NoSuchChild("no child with that id")
    rows: list[Any] = [child, *child.names, *child.addresses, *child.identifiers, *child.carers,
                       *child.involvements, *(i for v in child.involvements for i in v.indicators)]
    ids = {r.submission_id for r in rows if r.submission_id}
    submissions = {s.id: s for s in session.scalars(select(m.Submission).where(m.Submission.id.in_(ids)))}

    def p(row: Any) -> dict[str, Any]:
        return _provenance(row, submissions)

    entries = who_looked_at(session, child_id)
    actors = {e.actor for e in entries}
    organisations = {user: organisation for user, organisation in session.execute(
        select(m.Practitioner.user_id, m.Practitioner.organisation)
        .where(m.Practitioner.user_id.in_(actors)))}
    opt_outs = session.scalars(select(m.SharingOptOut).where(m.SharingOptOut.child_id == child_id)
                               .order_by(m.SharingOptOut.id)).all()
    transfers = session.scalars(select(m.ChildTransfer).where(m.ChildTransfer.child_id == child_id)
                                .order_by(m.ChildTransfer.id)).all()
    return {
        "produced_at": now.isoformat(),
        "child": {
            "child_number": child.child_number, "date_of_birth": _date(child.date_of_birth),
            "gender": child.gender.value, "status": child.status.value,
            "status_since": _date(child.status_since), "owning_la": child.owning_la,
            "shielded": child.shielded, "retained_to_25": child.retain_to_25,
            "date_of_death": _date(child.date_of_death), "first_recorded": _date(child.created_at),
            "provenance": p(child),
        },
        "names": [{"kind": n.kind.value, "given_name": n.given_name, "middle_names": n.middle_names,
                   "family_name": n.family_name, "provenance": p(n)} for n in child.names],
        "addresses": [{"status": a.status.value, "line1": a.line1, "line2": a.line2, "line3": a.line3,
                       "town": a.town, "postcode": a.postcode, "from": _date(a.valid_from),
                       "to": _date(a.valid_to), "provenance": p(a)} for a in child.addresses],
        "identifiers": [{"scheme": i.scheme.value, "value": i.value, "provenance": p(i)}
                        for i in child.identifiers],
        "carers": [{"given_name": c.given_name, "family_name": c.family_name,
                    "relationship": c.relationship_to_child.value,
                    "parental_responsibility": c.parental_responsibility, "phone": c.phone,
                    "alternative_phone": c.alternative_phone, "email": c.email,
                    "address": None if c.address_as_child else
                    ", ".join(x for x in (c.line1, c.line2, c.line3, c.town, c.postcode) if x) or None,
                    "provenance": p(c)} for c in child.carers],
        "involvements": [{
            "service": v.service_type.value, "organisation": v.organisation_name,
            "organisation_code": v.organisation_code, "practitioner": v.practitioner_name,
            "phone": v.contact_phone, "email": v.contact_email, "from": _date(v.start_date),
            "to": _date(v.end_date), "lead_professional": v.lead_professional,
            "consent_basis": v.consent_basis.value,
            "indicators": [{"kind": i.kind.value, "set_by": i.set_by, "set_at": _date(i.set_at),
                            "cleared_at": _date(i.cleared_at)} for i in v.indicators],
            "provenance": p(v)} for v in child.involvements],
        "opt_outs": [{"service": o.service_type.value, "by": o.opted_out_by.value,
                      "recorded": _date(o.recorded_at), "withdrawn": _date(o.withdrawn_at)}
                     for o in opt_outs],
        "transfers": [{"from_la": t.from_la, "to_la": t.to_la, "when": _date(t.transferred_at),
                       "reason": t.reason} for t in transfers],
        "accesses": [{"when": e.at.isoformat(), "who": e.actor, "organisation": organisations.get(e.actor),
                      "role": e.actor_role, "la": e.actor_la, "what": ACTIONS.get(e.action, e.action),
                      "reason": REASONS.get(e.reason, e.reason) if e.reason else None,
                      "outcome": e.outcome} for e in entries],
    }


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items() if v is not None)
    if isinstance(value, list):
        return "; ".join(_cell(v) for v in value)
    return str(value)


def subject_access_pdf(report: dict[str, Any]) -> bytes:
    """The report as a PDF: plain headings and tables, in the order a family would read it."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import LongTable, Paragraph, SimpleDocTemplate, Spacer, TableStyle

    styles = getSampleStyleSheet()
    small = styles["BodyText"].clone("small", fontSize=8, leading=10)
    buffer = io.BytesIO()
    document = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm,
                                 title="Child index: subject access report", author="Child index")
    story: list[Any] = []

    def para(text: Any, style: Any = small) -> Paragraph:
        return Paragraph(_escape(_cell(text)), style)

    def grid(data: list[list[Any]], widths: list[float]) -> None:
        block = LongTable(data, colWidths=widths, repeatRows=1 if len(data) > 1 else 0)
        block.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                                   ("BACKGROUND", (0, 0), (0, -1), colors.whitesmoke),
                                   ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        story.append(block)
        story.append(Spacer(1, 2 * mm))

    def items(rows: list[dict[str, Any]]) -> None:
        """Each item as its own two-column table (field, value): long values stay readable."""
        if not rows:
            story.append(para("None held."))
        for row in rows:
            grid([[para(k.replace("_", " ").capitalize()), para(v)] for k, v in row.items()],
                 [45 * mm, 135 * mm])

    def accesses(rows: list[dict[str, Any]]) -> None:
        if not rows:
            story.append(para("Nobody has looked at this record."))
            return
        keys = ("when", "who", "organisation", "what", "reason", "outcome")
        data = [[para(k.capitalize()) for k in keys]]
        data += [[para(r["when"][:16].replace("T", " ")), *(para(r.get(k)) for k in keys[1:])] for r in rows]
        grid(data, [26 * mm, 28 * mm, 34 * mm, 42 * mm, 36 * mm, 14 * mm])

    child = report["child"]
    story.append(Paragraph("What the child index holds about this child", styles["Title"]))
    story.append(para(f"Produced {report['produced_at'][:10]} for a subject access request. The child "
                      "index is a directory of who works with a child and how to contact them; it "
                      "holds no assessments or case notes. Each value shows where it came from.",
                      styles["BodyText"]))
    story.append(Spacer(1, 4 * mm))
    story.append(Paragraph("The record", styles["Heading2"]))
    items([child])
    for key, title in SECTIONS:
        story.append(Paragraph(title, styles["Heading2"]))
        items(report[key])
    story.append(Paragraph("Who has looked at or changed this record", styles["Heading2"]))
    accesses(report["accesses"])
    document.build(story)
    return buffer.getvalue()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
