"""Safe, streaming XML for the census and CTF parsers.

lxml's pull parser with entity resolution, DTD loading and network access off, and with
libxml2's default limits kept (a text node of at most 10 MB, a tree at most 256 deep). Any
DOCTYPE is refused outright, before libxml2 sees the document and again once it has been
parsed, so billion-laughs and external-entity (XXE) files never get as far as a record.

Only end events for a few element names are reported (the pupil, the header, and the bulky
prohibited sections, which are cut out of the tree the moment they close); each pupil is
released once processed, so memory stays flat whatever the file's size.

libxml2's own messages are never passed on: some quote bytes of the document. Errors are
rebuilt from the error code and position only.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from lxml import etree

from ingest.report import FeedError

PROLOG_BYTES = 64 * 1024

_DECLARED_ENCODING = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._\-]{1,40})["']""")
_UTF8 = {"utf-8", "utf8"}
_UTF16 = {"utf-16", "utf16", "utf-16le", "utf-16be", "ucs-2"}

# libxml2 error codes -> what we tell the sender. Anything not listed is "not well-formed".
_TRUNCATED = {
    etree.ErrorTypes.ERR_TAG_NOT_FINISHED,
    etree.ErrorTypes.ERR_DOCUMENT_END,
}
_REASONS: dict[int, str] = {
    etree.ErrorTypes.ERR_DOCUMENT_EMPTY: "is not XML (no element at the start)",
    etree.ErrorTypes.ERR_INVALID_ENCODING: (
        "has the wrong encoding: its bytes are not valid in the encoding it declares (UTF-8 if none)"
    ),
    etree.ErrorTypes.ERR_UNSUPPORTED_ENCODING: "declares an encoding that is not supported",
    etree.ErrorTypes.ERR_UNKNOWN_ENCODING: "declares an unknown encoding",
    etree.ErrorTypes.ERR_RESOURCE_LIMIT: (
        "exceeds a parser limit (a text node over 10 MB or elements nested over 256 deep)"
    ),
    etree.ErrorTypes.ERR_UNDECLARED_ENTITY: "uses an entity, which is not allowed",
    etree.ErrorTypes.WAR_UNDECLARED_ENTITY: "uses an entity, which is not allowed",
}


def _error_name(code: int) -> str:
    for name in dir(etree.ErrorTypes):
        if name.isupper() and getattr(etree.ErrorTypes, name) == code:
            return name
    return str(code)


def _last_line(path: Path) -> int:
    """The number of the file's last line (read only when a parse has failed)."""
    count, last = 0, b""
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            count += block.count(b"\n")
            last = block
    return count + (0 if last.endswith(b"\n") else 1)


def syntax_error(path: Path, exc: etree.XMLSyntaxError) -> FeedError:
    file = path.name
    line = exc.lineno or 0
    if exc.code == etree.ErrorTypes.ERR_INTERNAL_ERROR and line <= 1:
        return FeedError(file, "is empty or is not XML")
    # A file cut short fails on its last line, whichever token the cut fell in.
    if exc.code in _TRUNCATED or (line > 1 and line >= _last_line(path)):
        return FeedError(
            file,
            f"is truncated: it ends at line {line} before the document is complete",
            truncated=True,
        )
    reason = _REASONS.get(exc.code)
    if reason is None:
        reason = f"is not well-formed XML ({_error_name(exc.code)})"
    return FeedError(file, f"{reason}, at line {line}", truncated=line > 1)


def check_prolog(path: Path) -> str | None:
    """Refuse a DOCTYPE, and an encoding declaration that contradicts the file's bytes.

    One contradiction is read instead: 8-bit text declaring UTF-16 is what .NET writers give
    when a document built in a string (where .NET says UTF-16) is saved as UTF-8, and a file
    whose first bytes are `<?xml` one byte a character cannot be UTF-16. Returns the encoding to
    read it in ("utf-8", strictly: any byte that is not UTF-8 still refuses it), else None."""
    with path.open("rb") as handle:
        head = handle.read(PROLOG_BYTES)
    file = path.name
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise FeedError(file, "is UTF-32, which is not supported")
    actual = "utf-8"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        actual = "utf-16"
    elif head[:2] in (b"<\x00", b"\x00<"):
        actual = "utf-16"  # UTF-16 without a byte-order mark
    if actual == "utf-16":
        codec = "utf-16" if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) else (
            "utf-16-le" if head[:1] == b"<" else "utf-16-be"
        )
        text = head[: len(head) // 2 * 2].decode(codec, errors="replace").lstrip("\ufeff")
        ascii_head = text.encode("ascii", errors="replace")
    else:
        ascii_head = head.removeprefix(codecs.BOM_UTF8)
    match = _DECLARED_ENCODING.match(ascii_head.lstrip())
    declared = match.group(1).decode("ascii").lower() if match else None
    if actual == "utf-16" and declared is not None and declared not in _UTF16:
        raise FeedError(file, f"has the wrong encoding: it is UTF-16 but declares {declared}")
    override = None
    if actual == "utf-8" and declared in _UTF16:
        override = "utf-8"
    elif head.startswith(codecs.BOM_UTF8) and declared is not None and declared not in _UTF8:
        raise FeedError(file, f"has the wrong encoding: it starts as UTF-8 but declares {declared}")
    if b"<!DOCTYPE" in ascii_head.upper():
        raise FeedError(file, "has a DOCTYPE, which is not allowed (no DTDs or entities)")
    return override


# Bytes handed to the parser at a time, as lxml's own iterparse reads them: Python's share of the
# work stays small, and so does the tree parsed ahead of the events (tests/test_ingest_census.py).
CHUNK_BYTES = 32 * 1024

_PARSER_OPTIONS = {
    "resolve_entities": False,
    "load_dtd": False,
    "dtd_validation": False,
    "no_network": True,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
    "remove_blank_text": True,  # indentation between elements: never data, and ~15% faster
}


def _events(source: Path, tags: Iterable[str] | None, events: tuple[str, ...],
            encoding: str | None = None) -> Iterator[etree._Element]:
    """The element of each event, in document order, then the parse error if there is one.

    The file is fed to a pull parser here rather than through `etree.iterparse`: since lxml 6.2
    iterparse raises a syntax error as soon as libxml2 reports it, dropping the events it had
    already parsed from the same block of the file, so how many records came before a broken one
    depended on lxml's release and block size. The pull parser keeps those events queued after
    the error; they are given out first, then the error is raised.
    """
    tag = list(tags) if tags is not None else None
    parser = etree.XMLPullParser(events=events, tag=tag, encoding=encoding, **_PARSER_OPTIONS)
    with source.open("rb") as handle:
        try:
            while block := handle.read(CHUNK_BYTES):
                parser.feed(block)
                for _event, element in parser.read_events():
                    yield element
            parser.close()
        except etree.XMLSyntaxError:
            for _event, element in parser.read_events():
                yield element
            raise
    for _event, element in parser.read_events():
        yield element


def _refuse_doctype(file: str, element: etree._Element) -> None:
    docinfo = element.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise FeedError(file, "has a DOCTYPE, which is not allowed (no DTDs or entities)")


def root_name(path: Path) -> str:
    """The local name of the document's root element (reads only the start of the file)."""
    encoding = check_prolog(path)
    try:
        for element in _events(path, None, ("start",), encoding):
            _refuse_doctype(path.name, element)
            return etree.QName(element).localname
    except etree.XMLSyntaxError as exc:
        raise syntax_error(path, exc) from None
    raise FeedError(path.name, "is empty or is not XML")


def stream(path: Path, tags: Iterable[str]) -> Iterator[etree._Element]:
    """Each element named in `tags` once it has closed, in document order (no DOCTYPE ever)."""
    encoding = check_prolog(path)
    first = True
    try:
        for element in _events(path, tags, ("end",), encoding):
            if first:
                _refuse_doctype(path.name, element)
                first = False
            yield element
    except etree.XMLSyntaxError as exc:
        raise syntax_error(path, exc) from None
    except OSError as exc:
        raise FeedError(path.name, f"cannot be read ({type(exc).__name__})") from None


def release(element: etree._Element) -> None:
    """Free a processed element and everything before it in its parent."""
    element.clear(keep_tail=False)
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]


def cut(element: etree._Element) -> None:
    """Remove a closed element from the tree at once (a dropped section)."""
    parent = element.getparent()
    element.clear(keep_tail=False)
    if parent is not None:
        parent.remove(element)
