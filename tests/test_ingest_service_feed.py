"""CSV service feeds: the documented header, one involvement per row, line-numbered errors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from index.vocabulary import ConsentBasis, ServiceType, SourceKind
from ingest import (
    SERVICE_FEED_COLUMNS,
    FeedError,
    RecordError,
    detect_kind,
    parse_feed,
    parse_service_feed,
)

DATA = Path(__file__).parent / "data" / "ingest"
FEED = DATA / "service_feed.csv"
TODAY = dt.date(2025, 6, 1)


def test_detects_service_feed() -> None:
    assert detect_kind(FEED) is SourceKind.SERVICE_FEED


def test_rows_give_one_child_and_one_involvement_each() -> None:
    result = parse_service_feed(FEED, owning_la="823", today=TODAY).collect()
    assert result.failure is None
    by_ref = {r.record_ref: r for r in result.records}
    assert sorted(by_ref) == ["line 10", "line 2", "line 3", "line 5", "line 6"]
    assert by_ref["line 3"].child.identifiers == ()  # its bad NHS number left out, the row kept
    visit = by_ref["line 2"]
    assert visit.sender_ref == "HV-001" and visit.child.owning_la == "823"
    (involvement,) = visit.child.involvements
    assert involvement.service_type is ServiceType.HEALTH_VISITOR
    assert (involvement.organisation_code, involvement.practitioner_name) == ("RD7", "Sam Jones")
    assert involvement.lead_professional is True
    assert visit.child.addresses[0].postcode == "MK45 2AB"
    assert [(i.scheme, i.value) for i in visit.child.identifiers] == [("nhs_number", "9434765870")]
    consented = by_ref["line 5"].child.involvements[0]
    assert consented.consent_basis is ConsentBasis.CHILD_CONSENT
    # A quoted cell over two physical lines: the row is numbered by its first line, and the
    # line break inside the cell folds to a space.
    social = by_ref["line 6"].child
    assert social.addresses[0].line1 == "2 Long Road"
    assert social.current_name.given_name == 'Efa "Effie"'
    assert {i.scheme for i in social.identifiers} == {"upn", "la_reference"}


# A bad NHS number (line 3) or sex (line 10) no longer costs its row (issue 15): kept, with a
# warning; so does a date of birth that is not a date (tests/test_ingest_undated.py), but a real
# one that puts the child out of the age band (line 9) still rejects the row.
EXPECTED_ERRORS = [
    ("line 4", "involvement", "sensitive service"),
    ("line 8", "record_id", "first at line 2"),
    ("line 9", "date_of_birth", "over 25"),
    ("line 11", "service_type", "is not one of"),
    ("line 12", "row", "has 6 fields, the header has 24"),
]


def test_bad_rows_are_rejected_by_line_field_and_reason() -> None:
    parse = parse_service_feed(FEED, owning_la="823", today=TODAY)
    errors = [item for item in parse if isinstance(item, RecordError)]
    assert [(e.record_ref, e.field) for e in errors] == [(r, f) for r, f, _ in EXPECTED_ERRORS]
    for error, (_, _, reason) in zip(errors, EXPECTED_ERRORS, strict=True):
        assert reason in error.reason and error.file == "service_feed.csv"
    text = " ".join(map(str, errors))
    for personal in ("Bryn", "Jones", "Cai", "Gwen", "1990-01-01", "9434765871", "Price"):
        assert personal not in text
    assert parse.report.accepted == 5 and parse.report.rejected_count == 5 and parse.report.complete
    # Warnings are counted by field and reason, not listed row by row (issue 15).
    assert parse.report.warnings == []
    counted = parse.report.warning_counts
    assert counted["sex: is not F, M or U, recorded as unspecified"] == 1
    assert [count for warning, count in counted.items() if warning.startswith("nhs_number: ")
            and warning.endswith("left out")] == [1]
    assert "9434765871" not in " ".join(counted) and "line " not in " ".join(counted)


def test_extra_columns_are_rejected_by_name_without_their_values() -> None:
    with pytest.raises(FeedError) as caught:
        list(parse_feed(DATA / "service_feed_extra_columns.csv", owning_la="823"))
    message = str(caught.value)
    assert message == (
        "service_feed_extra_columns.csv: has columns not in the documented header: ethnicity, religion"
    )
    assert "MARKER" not in message


def test_missing_required_columns() -> None:
    with pytest.raises(FeedError, match="lacks required columns: family_name, organisation_name"):
        list(parse_service_feed(DATA / "service_feed_missing_columns.csv", owning_la="823"))


def test_repeated_column(tmp_path: Path) -> None:
    path = tmp_path / "feed.csv"
    path.write_text("family_name,date_of_birth,service_type,organisation_name,family_name\n")
    with pytest.raises(FeedError, match="repeats columns: family_name"):
        list(parse_service_feed(path, owning_la="823"))


def test_service_feed_needs_its_la() -> None:
    with pytest.raises(FeedError, match="the LA that sent it must be given"):
        parse_feed(FEED)
    with pytest.raises(ValueError):
        parse_service_feed(FEED, owning_la="82")


def test_wrong_encoding_keeps_the_rows_before_it(tmp_path: Path) -> None:
    header = ",".join(SERVICE_FEED_COLUMNS)
    good = FEED.read_text().splitlines()[1]
    bad = good.replace("HV-001", "HV-002").replace("Amara", "Zoë")
    path = tmp_path / "feed.csv"
    path.write_bytes(f"{header}\n{good}\n".encode() + (bad + "\n").encode("latin-1") * 2000)
    result = parse_service_feed(path, owning_la="823", today=TODAY).collect()
    assert [r.sender_ref for r in result.records] == ["HV-001"]
    assert result.failure is not None and result.failure.truncated
    assert "not UTF-8 text" in str(result.failure) and "Zo" not in str(result.failure)
    assert result.report.complete is False and result.report.failure == result.failure.reason


def test_all_columns_are_documented_and_sourced_to_the_model() -> None:
    # Every documented column is used by the row builder (none is read and silently ignored).
    source = Path(parse_service_feed.__code__.co_filename).read_text()
    for column in SERVICE_FEED_COLUMNS:
        assert f'"{column}"' in source, column


def test_header_only_feed_is_empty_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "feed.csv"
    path.write_text(",".join(SERVICE_FEED_COLUMNS) + "\n")
    parse = parse_service_feed(path, owning_la="823")
    assert list(parse) == [] and parse.report.warnings == ["feed.csv: holds no rows"]
