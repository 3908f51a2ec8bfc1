"""Which feed a file is, and one entry point that parses any of them."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import re
from pathlib import Path

from index.vocabulary import SourceKind
from ingest.census import parse_census
from ingest.ctf import parse_ctf
from ingest.report import FeedError, FeedParse
from ingest.service_feed import SERVICE_FEED_COLUMNS, parse_service_feed
from ingest.xml_stream import root_name

XML_ROOTS: dict[str, SourceKind] = {"Message": SourceKind.CENSUS, "CTfile": SourceKind.CTF}
_SNIFF_BYTES = 4096


def _looks_like_xml(head: bytes) -> bool:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or head[:2] in (b"<\x00", b"\x00<"):
        return True
    return head.removeprefix(codecs.BOM_UTF8).lstrip().startswith(b"<")


def detect_kind(path: Path | str) -> SourceKind:
    """census, ctf or service_feed, from the file's content (never its name); else FeedError."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError as exc:
        raise FeedError(path.name, f"cannot be read ({type(exc).__name__})") from None
    if not head.strip():
        raise FeedError(path.name, "is empty")
    if _looks_like_xml(head):
        root = root_name(path)
        kind = XML_ROOTS.get(root)
        if kind is None:
            raise FeedError(
                path.name,
                f"has root element {root[:40]}: not a school census (Message), "
                "a CTF (CTfile) or another known feed",
            )
        return kind
    try:
        first_line = head.removeprefix(codecs.BOM_UTF8).decode("utf-8").splitlines()[0]
    except (UnicodeDecodeError, IndexError):
        raise FeedError(path.name, "is neither XML nor UTF-8 CSV text") from None
    columns = {c.strip() for c in next(csv.reader([first_line]), [])}
    if columns & set(SERVICE_FEED_COLUMNS):
        return SourceKind.SERVICE_FEED
    raise FeedError(path.name, "is neither XML nor a CSV service feed with the documented header")


# The first element's name in a file's opening bytes, past any prolog, comments and DOCTYPE.
_FIRST_ELEMENT = re.compile(r"<(?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)[\s/>]")


def guess_kind(path: Path | str) -> SourceKind:
    """What a refused file most likely is, for its report: read as text from its first bytes,
    without parsing (a census refused for its DOCTYPE, encoding or control characters is still
    a census). `SourceKind.UNKNOWN` when nothing says."""
    try:
        with Path(path).open("rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError:
        return SourceKind.UNKNOWN
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or head[:2] in (b"<\x00", b"\x00<"):
        text = head.decode("utf-16", errors="replace")
    else:
        text = head.removeprefix(codecs.BOM_UTF8).decode("latin-1")
    if text.lstrip().startswith("<"):
        for name in _FIRST_ELEMENT.findall(text):
            if name in XML_ROOTS:
                return XML_ROOTS[name]
        return SourceKind.UNKNOWN
    first_line = text.splitlines()[0] if text.strip() else ""
    columns = {c.strip() for c in next(csv.reader([first_line]), [])}
    return SourceKind.SERVICE_FEED if columns & set(SERVICE_FEED_COLUMNS) else SourceKind.UNKNOWN


def parse_feed(
    path: Path | str,
    *,
    expected_laestab: str | None = None,
    owning_la: str | None = None,
    today: dt.date | None = None,
) -> FeedParse:
    """Detect the file's kind and start its streaming parse.

    `expected_laestab`: the school the file was submitted for (census and CTF; a mismatch is a
    file error). `owning_la`: the LA a service feed belongs to (required for service feeds).
    """
    path = Path(path)
    kind = detect_kind(path)
    if kind is SourceKind.CENSUS:
        return parse_census(path, expected_laestab=expected_laestab, today=today)
    if kind is SourceKind.CTF:
        return parse_ctf(path, expected_laestab=expected_laestab, today=today)
    if owning_la is None:
        raise FeedError(path.name, "is a service feed: the LA that sent it must be given")
    return parse_service_feed(path, owning_la=owning_la, today=today)
