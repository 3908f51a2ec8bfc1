"""Writer of CSV service feeds (ingest.service_feed.SERVICE_FEED_COLUMNS), and `render`, which
picks the writer for a source file."""

from __future__ import annotations

import csv
import io

from ingest.service_feed import SERVICE_FEED_COLUMNS
from ops.synth.census import render_census
from ops.synth.ctf import render_ctf
from ops.synth.decoration import (
    Decorator,
    yes_no,
)
from ops.synth.model import (
    Chunk,
    SourceFile,
    SourceRecord,
)
from ops.synth.sources import FEED_ROW_PREFIX


def _feed_row(rec: SourceRecord, row_id: str) -> list[str]:
    service = rec.service
    assert service is not None
    address = rec.address
    lines = address.lines() if address else []
    values = {
        "record_id": row_id, "given_name": rec.given, "middle_names": rec.middle or "",
        "family_name": rec.surname, "date_of_birth": rec.dob.isoformat(), "sex": rec.sex,
        "address_line1": lines[0] if lines else "", "address_line2": ", ".join(lines[1:]),
        "town": address.town if address else "", "postcode": address.postcode if address else "",
        "upn": rec.upn or "", "nhs_number": rec.nhs or "", "uln": rec.uln or "",
        "la_reference": rec.la_ref or "", "service_type": service.service_type,
        "organisation_name": service.organisation_name,
        "organisation_code": service.organisation_code or "",
        "practitioner_name": service.practitioner or "", "contact_phone": service.phone or "",
        "contact_email": service.email or "",
        "start_date": service.start.isoformat() if service.start else "",
        "end_date": service.end.isoformat() if service.end else "",
        "lead_professional": yes_no(service.lead), "consent_basis": service.consent,
    }
    return [values[column] for column in SERVICE_FEED_COLUMNS]


def render_feed(file: SourceFile) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(SERVICE_FEED_COLUMNS)
    prefix = FEED_ROW_PREFIX.get(file.service or "", "ROW")
    for rec in file.records:
        writer.writerow(_feed_row(rec, f"{prefix}-{rec.child.id:08d}-{rec.record_ref[5:]}"))
    return buffer.getvalue()


def render(file: SourceFile, chunk: Chunk, deco: Decorator) -> str:
    if file.kind == "census":
        return render_census(file, deco, chunk.calendar)
    if file.kind == "ctf":
        return render_ctf(file, deco, chunk.calendar)
    return render_feed(file)
