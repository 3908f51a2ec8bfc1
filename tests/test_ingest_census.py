"""School census parsing: what is kept, what is rejected and why, header checks."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from index.vocabulary import Gender, NameKind, ServiceType, SourceKind
from ingest import FeedError, RecordError, SourceRecord, detect_kind, parse_census, parse_feed
from ingest.census import census_day

DATA = Path(__file__).parent / "data" / "ingest"
MARKERS = DATA / "census_markers.xml"
MIXED = DATA / "census_mixed.xml"


def test_detects_census() -> None:
    assert detect_kind(MARKERS) is SourceKind.CENSUS


def test_keeps_the_allow_listed_pupil() -> None:
    result = parse_census(MARKERS).collect()
    assert result.failure is None and result.errors == []
    first, second, leaver = result.records
    child = first.child
    assert first.record_ref == "pupil 1" and child.provenance.record_ref == "pupil 1"
    assert child.owning_la == "823"
    assert child.date_of_birth == dt.date(2014, 5, 10)
    assert child.gender is Gender.FEMALE
    names = {n.kind: n for n in child.names}
    assert (names[NameKind.CURRENT].given_name, names[NameKind.CURRENT].family_name) == ("Amara", "Okafor")
    assert names[NameKind.CURRENT].middle_names == "Grace"
    assert names[NameKind.PREFERRED].family_name == "Okafor-Smith"
    assert names[NameKind.FORMER].family_name == "Smith"
    assert {(i.scheme, i.value) for i in child.identifiers} == {
        ("upn", "F823123414001"), ("former_upn", "B801200005001"), ("uln", "9276308686"),
    }
    (address,) = child.addresses
    assert (address.line1, address.line2, address.town) == ("Flat 2", "14 Mill Lane", "Bedford")
    assert (address.postcode, address.uprn) == ("MK45 2AB", "100081234567")
    (school,) = child.involvements
    assert school.service_type is ServiceType.SCHOOL
    assert (school.organisation_code, school.organisation_name) == ("8231234", "School 8231234")
    assert (school.start_date, school.end_date) == (dt.date(2021, 9, 1), None)
    assert first.left_on is None and child.carers == ()
    # Gender instead of Sex; free address lines (LineAddressFormat).
    assert second.child.gender is Gender.MALE
    assert second.child.addresses[0].line1 == "3 Church Street"
    # A leaver: unspecified sex, the school involvement ended, left_on set.
    assert leaver.child.gender is Gender.UNSPECIFIED
    assert leaver.left_on == dt.date(2025, 7, 18)
    assert leaver.child.involvements[0].end_date == dt.date(2025, 7, 18)


def test_report_counts_dropped_sections_and_header_facts() -> None:
    parse = parse_census(MARKERS)
    list(parse)
    report = parse.report
    assert report.complete and report.accepted == 3 and report.rejected_count == 0
    assert report.header["laestab"] == "8231234" and report.header["term"] == "AUT"
    assert report.header["reference_date"] == "2025-10-02"
    for section, count in {
        "PupilCharacteristics": 3, "SpecialEducationalNeeds": 1, "Exclusions": 1, "Attendance": 2,
        "School": 1, "Diet": 1, "TopLevelSurprise": 1, "TrailingSurprise": 1, "UCI": 1,
        "EnrolStatus": 1, "ReasonForLeaving": 1, "HomeLanguage": 1,
    }.items():
        assert report.dropped[section] == count, section


EXPECTED_MIXED = {
    "pupil 1": "accepted",
    "pupil 2": ("upn", "check letter does not match", None),
    "pupil 3": ("date_of_birth", "is missing", "V823123414002"),
    "pupil 4": ("date_of_birth", "over 19", "J823123414003"),
    "pupil 5": ("date_of_birth", "after the file's reference date", "Y823123414004"),
    "pupil 6": ("postcode", "not a UK postcode", "M823123414005"),
    # Another pupil with pupil 1's UPN: accepted, both to review (issue 15; ingest.conflicts).
    "pupil 7": "conflict",
    "pupil 8": "accepted",
    "pupil 9": ("surname", "is missing", "E823123414008"),
    "pupil 10": ("leaving_date", "before the entry date", "U823123414009"),
    "pupil 11": "accepted",
}


def test_each_bad_pupil_is_rejected_with_field_and_reason_and_good_ones_kept() -> None:
    parse = parse_census(MIXED)
    outcomes = {item.record_ref: item for item in parse}
    assert list(outcomes) == list(EXPECTED_MIXED)
    for ref, expected in EXPECTED_MIXED.items():
        item = outcomes[ref]
        if expected in ("accepted", "conflict"):
            assert isinstance(item, SourceRecord), f"{ref}: {item}"
            assert item.upn_conflict == ("pupil 1" if expected == "conflict" else None), ref
            continue
        assert isinstance(item, RecordError), ref
        field, reason, upn = expected
        assert (item.file, item.field, item.upn) == ("census_mixed.xml", field, upn), ref
        assert reason in item.reason, ref
        assert str(item).startswith(f"census_mixed.xml: {ref}")
    assert parse.report.accepted == 4 and parse.report.rejected_count == 7


def test_errors_never_carry_names_dates_or_addresses() -> None:
    text = " ".join(str(e) for e in parse_census(MIXED).collect().errors)
    for personal in ("Badcheck", "Bryn", "Nodob", "Tooold", "2000-01-01", "2025-12-25", "QQ99",
                     "Secret", "Twice", "Iolo", "Backwards", "A823123414001"):
        assert personal not in text


def test_warnings_unknown_la_and_bad_optional_identifier() -> None:
    result = parse_census(MIXED).collect()
    assert "pupil 8: upn: LA number 999 is not a known LA number" in result.report.warnings
    leaver = next(r for r in result.records if r.record_ref == "pupil 11")
    assert leaver.warnings == ("pupil 11: uln: check digit does not match, left out",)
    assert [i.scheme for i in leaver.child.identifiers] == ["upn"]
    assert leaver.left_on == dt.date(2025, 4, 11)


def test_reference_date_defaults_to_census_day() -> None:
    assert parse_census(MIXED).collect().report.header["reference_date"] == "2025-05-15"
    assert census_day("AUT", 2025) == dt.date(2025, 10, 2)
    assert census_day("SPR", 2026) == dt.date(2026, 1, 15)
    assert census_day("SUM", 2025) == dt.date(2025, 5, 15)


def test_expected_school_must_match_the_header() -> None:
    assert len(parse_census(MARKERS, expected_laestab="8231234").collect().records) == 3
    expected = "census_markers.xml: is from school 8231234, but it was submitted for school 8239999"
    with pytest.raises(FeedError, match=re.escape(expected)):
        list(parse_feed(MARKERS, expected_laestab="8239999"))


def _write(tmp_path: Path, text: str, name: str = "census.xml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ("<Collection>SC</Collection>", "<Collection>AP</Collection>", "Collection must be SC"),
        ("<Term>AUT</Term>", "<Term>WIN</Term>", "Term must be AUT, SPR or SUM"),
        ("<Year>2025</Year>", "<Year>25</Year>", "Year must be a 4-digit year"),
        ("<LEA>823</LEA>", "<LEA>82</LEA>", "LEA is missing or is not a 3-digit LA number"),
        ("<Estab>1234</Estab>", "", "Estab is missing"),
    ],
)
def test_bad_header_is_a_file_error(tmp_path: Path, old: str, new: str, reason: str) -> None:
    path = _write(tmp_path, MARKERS.read_text().replace(old, new, 1))
    result = parse_census(path).collect()
    assert result.records == [] and result.failure is not None
    assert reason in str(result.failure) and str(result.failure).startswith("census.xml: ")


def test_census_without_pupils_is_accepted_with_a_warning(tmp_path: Path) -> None:
    text = MARKERS.read_text()
    path = _write(tmp_path, text[: text.index("<Pupils>")] + "<Pupils/></Message>")
    parse = parse_census(path)
    assert list(parse) == []
    assert parse.report.complete and parse.report.warnings == ["census.xml: holds no pupils"]


def test_a_parse_runs_once() -> None:
    parse = parse_census(MARKERS)
    list(parse)
    with pytest.raises(RuntimeError):
        list(parse)


def test_the_tree_does_not_grow_with_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Processed pupils are released: the in-memory tree stays the same size throughout.

    What remains is the parser's read-ahead (libxml2 parses a block of input ahead of the
    events it reports: some 18 pupils here), the same at the start of the file and at its end.
    """
    from ingest import school_xml
    from ops.bench.ingest import write_census

    path = tmp_path / "8231234_SC_2025AUT.xml"
    write_census(path, 1600)
    roots = []
    real_stream = school_xml.stream

    def spying_stream(*args, **kwargs):  # type: ignore[no-untyped-def]
        for element in real_stream(*args, **kwargs):
            roots.append(element.getroottree().getroot())
            yield element

    monkeypatch.setattr(school_xml, "stream", spying_stream)
    sizes = []
    for item in parse_census(path):
        assert isinstance(item, SourceRecord)
        sizes.append(sum(1 for _ in roots[-1].iter()))
    assert len(sizes) == 1600
    first, last = max(sizes[:400]), max(sizes[-400:])
    assert last <= first + 60  # one pupil's worth of elements at most
    assert first < 2000  # a 1,600-pupil file holds some 90,000 elements


def test_a_misplaced_pupil_is_reported_by_position(tmp_path: Path) -> None:
    text = MARKERS.read_text().replace(
        "</PupilsOnRoll>", "</PupilsOnRoll><Stray><PupilOnRoll><Note>x</Note></PupilOnRoll></Stray>"
    )
    result = parse_census(_write(tmp_path, text)).collect()
    assert [r.record_ref for r in result.records] == ["pupil 1", "pupil 2", "pupil 4"]
    (error,) = result.errors
    assert str(error) == (
        "census.xml: pupil 3: PupilOnRoll: is not inside Pupils or PupilsOnRoll, left out"
    )
    assert result.report.dropped["Stray"] == 1


def test_upn_key_is_one_to_one() -> None:
    from ingest.pupil import upn_key

    upns = ["F823123414001", "A823123414001", "F823123414009", "F82312341400A", "F82312341400Z",
            "Z999999999999", "A000000000000", "B801200005001", "B80120000500B"]
    assert len({upn_key(u) for u in upns}) == len(upns)
    assert max(upn_key(u) for u in upns) < 2**63


def test_fast_upn_check_agrees_with_the_identifier_validator() -> None:
    # check_upn takes a short cut for canonical UPNs; it must accept, canonicalise, warn and
    # refuse exactly as index.identifiers.validate does (valid, wrong letter, temporary,
    # unknown LA, lower case, spaced, I/O/S, wrong length).
    import random

    from index.identifiers import UPN_ALPHABET, InvalidIdentifier, upn_check_letter, validate
    from ingest.pupil import Reject, check_upn

    rng = random.Random(4)
    letters = "0123456789" + UPN_ALPHABET + "IOS"
    accepted = 0
    for _ in range(20_000):
        body = "".join(rng.choice("0123456789") for _ in range(11)) + rng.choice(letters)
        good = body[-1] not in "IOS" and rng.random() < 0.7
        raw = (upn_check_letter(body) if good else rng.choice(UPN_ALPHABET + "IOS")) + body
        raw = rng.choice([raw, raw, raw.lower(), f"{raw[:5]} {raw[5:]}", raw[:-1], raw + "1"])
        try:
            fast: tuple[object, ...] = check_upn(raw)
        except Reject as exc:
            fast = ("refused", exc.field, exc.reason)
        try:
            checked = validate("upn", raw)
            slow: tuple[object, ...] = (checked.value, checked.warnings)
        except InvalidIdentifier as exc:
            slow = ("refused", "upn", exc.reason)
        assert fast == slow, raw
        accepted += fast[0] != "refused"
    assert accepted > 5_000
