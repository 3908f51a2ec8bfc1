"""Real exporters' ways of writing the same census, CTF or service feed: each must give exactly
what the clean file gives (or a clear refusal naming what to change), never a misleading error."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import messy_files as messy
import pytest

from ingest import FeedResult, parse_feed

DATA = Path(__file__).parent / "data" / "ingest"
TODAY = dt.date(2025, 11, 5)


def _outcome(result: FeedResult) -> dict[str, Any]:
    """What a parse gave, without the file's name."""
    report = result.report
    return {
        "records": [(r.record_ref, r.child.model_dump(), r.left_on, r.warnings) for r in result.records],
        "errors": [(e.record_ref, e.field, e.reason, e.upn) for e in result.errors],
        "dropped": dict(report.dropped),
        "header": dict(report.header),
        "failure": result.failure and result.failure.reason,
    }


def _parse(path: Path, **kwargs: Any) -> FeedResult:
    return parse_feed(path, today=TODAY, **kwargs).collect()


SCHOOL_FILES = ["census_markers.xml", "census_mixed.xml", "ctf_markers.xml"]
XML_VARIANTS: dict[str, Callable[[bytes], bytes]] = {
    "default namespace": messy.default_namespace,
    "prefix on every element": messy.prefixed,
    "UTF-16": messy.utf16,
    "byte-order mark, CRLF": messy.bom_crlf,
}


@pytest.mark.parametrize("name", SCHOOL_FILES)
@pytest.mark.parametrize("variant", list(XML_VARIANTS))
def test_school_files_from_other_exporters_read_the_same(tmp_path: Path, name: str, variant: str) -> None:
    clean = _outcome(_parse(DATA / name))
    assert clean["records"] and clean["failure"] is None
    messy_path = tmp_path / name
    messy_path.write_bytes(XML_VARIANTS[variant]((DATA / name).read_bytes()))
    assert _outcome(_parse(messy_path)) == clean


@pytest.mark.parametrize("variant", ["default namespace", "prefix on every element"])
def test_namespaced_files_drop_prohibited_sections(tmp_path: Path, variant: str) -> None:
    path = tmp_path / "ctf.xml"
    path.write_bytes(XML_VARIANTS[variant]((DATA / "ctf_markers.xml").read_bytes()))
    result = _parse(path)
    assert result.report.dropped["SENhistory"] >= 1 and result.report.dropped["Attendance"] >= 1
    assert "MARKER" not in repr([r.child.model_dump() for r in result.records])
