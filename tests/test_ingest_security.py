"""Hostile and broken files: entities, DTDs, limits, truncation, encodings, wrong kinds."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from ingest import FeedError, SourceRecord, detect_kind, parse_census, parse_ctf, parse_feed

DATA = Path(__file__).parent / "data" / "ingest"
CENSUS = (DATA / "census_markers.xml").read_text(encoding="utf-8")
BODY = CENSUS[CENSUS.index("<Message>"):]
DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'


def _file(tmp_path: Path, content: str | bytes, name: str = "8231234_SC_2025AUT.xml") -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def _refused(path: Path, reason: str, *, on_detection: bool = True) -> FeedError:
    """The file is refused by the parser (and by detection), with a message naming it."""
    attempts = [lambda: list(parse_census(path))]
    if on_detection:
        attempts.append(lambda: detect_kind(path))
    for attempt in attempts:
        with pytest.raises(FeedError) as caught:
            attempt()
        assert str(caught.value).startswith(f"{path.name}: ")
        assert reason in str(caught.value)
    return caught.value


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE Message [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
"""


def test_billion_laughs_is_refused(tmp_path: Path) -> None:
    body = BODY.replace("<Surname>Okafor</Surname>", "<Surname>&lol9;</Surname>")
    path = _file(tmp_path, BILLION_LAUGHS + body)
    _refused(path, "has a DOCTYPE, which is not allowed")


def test_external_entity_is_refused_and_never_read(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("MARKER-XXE-SECRET-3e4f")
    doctype = f'<!DOCTYPE Message [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>\n'
    body = BODY.replace("<Surname>Okafor</Surname>", "<Surname>&xxe;</Surname>")
    path = _file(tmp_path, DECLARATION + doctype + body)
    error = _refused(path, "has a DOCTYPE")
    assert "MARKER-XXE" not in str(error) and "MARKER-XXE" not in caplog.text


def test_doctype_after_a_long_prolog_is_still_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Past the prolog sniff: the parser's own DOCTYPE check catches it before any record, and
    # the external entity is never loaded (entity resolution is off in the parser itself).
    secret = tmp_path / "secret.txt"
    secret.write_text("MARKER-XXE-SECRET-3e4f")
    padding = "<!--" + "x" * 70_000 + "-->\n"
    doctype = f'<!DOCTYPE Message [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>\n'
    body = BODY.replace("<Surname>Okafor</Surname>", "<Surname>&xxe;</Surname>")
    path = _file(tmp_path, DECLARATION + padding + doctype + body)
    error = _refused(path, "has a DOCTYPE")
    parse = parse_census(path)
    with pytest.raises(FeedError):
        list(parse)
    assert parse.report.records_seen == 0
    assert "MARKER-XXE" not in str(error) and "MARKER-XXE" not in caplog.text


def test_plain_doctype_is_refused(tmp_path: Path) -> None:
    path = _file(tmp_path, DECLARATION + '<!DOCTYPE Message SYSTEM "http://example.org/census.dtd">\n' + BODY)
    _refused(path, "has a DOCTYPE")


def test_huge_text_node_hits_the_parser_limit(tmp_path: Path) -> None:
    huge = "<Surname>" + "A" * 11_000_000 + "</Surname>"
    path = _file(tmp_path, DECLARATION + BODY.replace("<Surname>Evans</Surname>", huge))
    result = parse_census(path).collect()
    assert len(result.records) == 2  # the two pupils before it are kept
    assert result.failure is not None and "exceeds a parser limit" in str(result.failure)
    assert "2 records were read before it" in str(result.failure)


def test_deep_nesting_hits_the_parser_limit(tmp_path: Path) -> None:
    deep = "<Diet>" + "<x>" * 300 + "</x>" * 300 + "</Diet>"
    path = _file(tmp_path, DECLARATION + BODY.replace("<Diet>MARKER-DIET-3e4f</Diet>", deep))
    result = parse_census(path).collect()
    assert result.records == [] and "exceeds a parser limit" in str(result.failure)


def test_truncated_file_keeps_the_records_before_the_break(tmp_path: Path) -> None:
    text = DECLARATION + BODY
    cut_at = text.index("<PupilsNoLongerOnRoll>") + 40
    path = _file(tmp_path, text[:cut_at])
    parse = parse_census(path)
    kept: list[SourceRecord] = []
    with pytest.raises(FeedError) as caught:
        for item in parse:
            assert isinstance(item, SourceRecord)
            kept.append(item)
    error = caught.value
    assert [r.upn for r in kept] == ["F823123414001", "V823123414002"]
    assert error.truncated and "is truncated: it ends at line" in str(error)
    assert "2 records were read before it (2 accepted, 0 rejected)" in str(error)
    assert error.report is parse.report
    assert parse.report.accepted == 2 and not parse.report.complete
    assert parse.report.failure == error.reason


def test_not_well_formed_in_the_middle(tmp_path: Path) -> None:
    broken = (DECLARATION + BODY).replace("<Surname>Evans</Surname>", "<Surname>Evans</Forename>")
    result = parse_census(_file(tmp_path, broken)).collect()
    assert len(result.records) == 2
    assert "is not well-formed XML (ERR_TAG_NAME_MISMATCH)" in str(result.failure)
    assert result.failure.truncated


def test_utf16_declaring_utf8_is_refused(tmp_path: Path) -> None:
    path = _file(tmp_path, (DECLARATION + BODY).encode("utf-16"))
    _refused(path, "has the wrong encoding: it is UTF-16 but declares utf-8")


def test_utf16_declared_as_such_is_read(tmp_path: Path) -> None:
    text = '<?xml version="1.0" encoding="UTF-16"?>\n' + BODY
    result = parse_census(_file(tmp_path, text.encode("utf-16"))).collect()
    assert result.failure is None and len(result.records) == 3


LATIN1_NAME = BODY.replace("<Forename>Amara</Forename>", "<Forename>Zoë</Forename>")


def test_latin1_declaring_utf8_is_refused_without_quoting_bytes(tmp_path: Path) -> None:
    path = _file(tmp_path, (DECLARATION + LATIN1_NAME).encode("latin-1"))
    # Detection reads only the start of the file; the parse meets the first bad byte.
    error = _refused(path, "has the wrong encoding", on_detection=False)
    assert "0xEB" not in str(error) and "Zo" not in str(error)


def test_latin1_declared_as_such_is_read(tmp_path: Path) -> None:
    text = '<?xml version="1.0" encoding="ISO-8859-1"?>\n' + LATIN1_NAME
    result = parse_census(_file(tmp_path, text.encode("latin-1"))).collect()
    assert result.records[0].child.current_name.given_name == "Zoë"


def test_utf8_bom_declaring_another_encoding_is_refused(tmp_path: Path) -> None:
    text = '<?xml version="1.0" encoding="ISO-8859-1"?>\n' + BODY
    path = _file(tmp_path, codecs.BOM_UTF8 + text.encode("utf-8"))
    _refused(path, "starts as UTF-8 but declares iso-8859-1")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "is empty"),
        (b"%PDF-1.7\n\x00\x01\x02binary", "is a PDF document, not a census"),
        (b"name,age\nAmara,11\n", "is neither XML nor a CSV service feed"),
    ],
)
def test_not_a_feed(tmp_path: Path, content: bytes, reason: str) -> None:
    path = _file(tmp_path, content, "upload.dat")
    with pytest.raises(FeedError, match=reason):
        detect_kind(path)


def test_xml_parser_refuses_non_xml(tmp_path: Path) -> None:
    path = _file(tmp_path, b"name,age\nAmara,11\n", "upload.xml")
    with pytest.raises(FeedError, match=r"upload\.xml: is not XML"):
        list(parse_census(path))


def test_unknown_root_is_refused(tmp_path: Path) -> None:
    path = _file(tmp_path, DECLARATION + "<Invoice><Total>3</Total></Invoice>", "upload.xml")
    with pytest.raises(FeedError, match="root element Invoice: not a school census"):
        parse_feed(path)
    with pytest.raises(FeedError, match=r"has root element Invoice, not CTfile \(CTF\)"):
        list(parse_ctf(path))


def test_census_parser_refuses_a_ctf() -> None:
    with pytest.raises(FeedError, match="has root element CTfile, not Message"):
        list(parse_census(DATA / "ctf_markers.xml"))


def test_missing_header_is_a_file_error(tmp_path: Path) -> None:
    text = DECLARATION + BODY[: BODY.index("<Header>")] + BODY[BODY.index("</Header>") + 9:]
    with pytest.raises(FeedError, match="has a pupil before its Header"):
        list(parse_census(_file(tmp_path, text)))
