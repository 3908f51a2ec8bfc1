"""Messy versions of good files, as real exporters write them (fictional pupils only).

Each function takes a good file's bytes and returns the same content the way some MIS,
spreadsheet or export tool writes it: a namespace, another encoding, another delimiter, another
header spelling. A parser that reads the messy file must give exactly what it gives for the
clean one (tests/test_ingest_messy.py, tests/test_lists_messy.py).
"""

from __future__ import annotations

import codecs
import re

_DECLARATION = re.compile(rb"^<\?xml[^>]*\?>\s*")
_OPEN_TAG = re.compile(rb"<(/?)([A-Za-z_][\w.-]*)")
_QUALIFIED_OPEN_TAG = re.compile(rb"<(/?)([A-Za-z_][\w.-]*(?::[A-Za-z_][\w.-]*)?)")


def _split_prolog(xml: bytes) -> tuple[bytes, bytes]:
    match = _DECLARATION.match(xml)
    return (match.group(0), xml[match.end():]) if match else (b"", xml)


def _root_open(body: bytes) -> re.Match[bytes]:
    """The root element's opening tag, up to the end of its (qualified) name."""
    for match in _QUALIFIED_OPEN_TAG.finditer(body):
        if not match.group(1):
            return match
    raise ValueError("no root element")


def default_namespace(xml: bytes, uri: bytes = b"http://www.example.org/CBDS") -> bytes:
    """Every element in a default namespace (`<Message xmlns="...">`)."""
    prolog, body = _split_prolog(xml)
    root = _root_open(body)
    return prolog + body[:root.end()] + b' xmlns="' + uri + b'"' + body[root.end():]


def prefixed(xml: bytes, prefix: bytes = b"cbds", uri: bytes = b"urn:example:cbds") -> bytes:
    """Every element with a namespace prefix (`<cbds:Message xmlns:cbds="...">`)."""
    prolog, body = _split_prolog(xml)
    body = re.sub(rb"<!--.*?-->", b"", body, flags=re.S)
    body = _OPEN_TAG.sub(lambda m: b"<" + m.group(1) + prefix + b":" + m.group(2), body)
    root = _root_open(body)
    return prolog + body[:root.end()] + b" xmlns:" + prefix + b'="' + uri + b'"' + body[root.end():]


def utf16(xml: bytes) -> bytes:
    """UTF-16 with a byte-order mark, declaring UTF-16 (as .NET writers do)."""
    text = xml.decode("utf-8").replace('encoding="UTF-8"', 'encoding="UTF-16"')
    return text.encode("utf-16")


def declares_utf16(xml: bytes) -> bytes:
    """UTF-8 bytes declaring UTF-16, as .NET writes a document built in a string and saved."""
    return xml.replace(b'encoding="UTF-8"', b'encoding="utf-16"', 1)


def windows_1252(xml: bytes) -> bytes:
    """Windows-1252, declared (characters it cannot hold are not used by the fixtures)."""
    text = xml.decode("utf-8").replace('encoding="UTF-8"', 'encoding="windows-1252"')
    return text.encode("cp1252")


def bom_crlf(data: bytes) -> bytes:
    """A UTF-8 byte-order mark and Windows line ends."""
    return codecs.BOM_UTF8 + data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


# --- CSV, as spreadsheets save it --------------------------------------------------------------

def csv_rows(text: str) -> list[list[str]]:
    import csv
    import io
    return list(csv.reader(io.StringIO(text)))


def csv_text(rows: list[list[str]], delimiter: str = ",") -> str:
    import csv
    import io
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


def excel_header(rows: list[list[str]]) -> list[list[str]]:
    """Column names as people type them: 'Date of Birth', ' NHS Number ', 'given-name'."""
    styles = (
        lambda n: n.replace("_", " ").title(),
        lambda n: f" {n.replace('_', ' ').upper()} ",
        lambda n: n.replace("_", "-"),
    )
    header = [styles[i % len(styles)](name) for i, name in enumerate(rows[0])]
    return [header, *rows[1:]]


def trailing_blank_columns(rows: list[list[str]], count: int = 2) -> list[list[str]]:
    """Empty columns at the right, as Excel saves cells that were once touched (a row already
    shorter than the header is left as it is)."""
    width = len(rows[0])
    return [row + [""] * count if len(row) == width else row for row in rows]


def semicolons(rows: list[list[str]]) -> bytes:
    """Semicolon-delimited, as Excel saves CSV where the decimal mark is a comma."""
    return csv_text(rows, ";").encode("utf-8")


def unicode_text(rows: list[list[str]]) -> bytes:
    """Excel's "Unicode Text": UTF-16 with a byte-order mark, tab-delimited."""
    return csv_text(rows, "\t").encode("utf-16")
