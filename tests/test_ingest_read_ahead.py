"""Large school files are read in a second process: same results as one process, no leftovers.

`READ_AHEAD_BYTES` is set to 0 to force the second process on small files, or out of reach to
keep everything in one process; every parse here is compared between the two.
"""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path
from typing import Any

import pytest

from ingest import FeedError, SourceRecord, parse_feed, read_ahead, school_xml
from ops.bench.ingest import write_census

DATA = Path(__file__).parent / "data" / "ingest"


def _run(path: Path, monkeypatch: pytest.MonkeyPatch, ahead: bool, **kwargs: Any) -> dict[str, Any]:
    """Everything a parse gives, as comparable data."""
    monkeypatch.setattr(read_ahead, "READ_AHEAD_BYTES", 0 if ahead else 2**62)
    parse = parse_feed(path, owning_la="823", **kwargs)
    items: list[Any] = []
    failure = None
    try:
        for item in parse:
            if isinstance(item, SourceRecord):
                items.append((item.record_ref, item.child.model_dump_json(), item.left_on, item.warnings))
            else:
                items.append(item)
    except FeedError as exc:
        failure = (str(exc), exc.truncated)
    assert not multiprocessing.active_children(), "the reading process outlived the parse"
    return {"items": items, "report": parse.report.as_dict(), "failure": failure}


def _census(tmp_path: Path, pupils: int = 700) -> str:
    """A generated census with bad, duplicated and misplaced pupils and unknown sections."""
    path = tmp_path / "generated.xml"
    write_census(path, pupils)
    text = path.read_text()
    blocks = text.split("   <PupilOnRoll>")
    blocks[5] = blocks[5].replace("<DOB>", "<DOB>19", 1)                      # not a date
    blocks[9] = blocks[9].replace("<UPN>", "<UPN>X", 1)                        # bad UPN
    blocks[12] = blocks[12].replace(
        blocks[12][blocks[12].index("<UPN>"):blocks[12].index("</UPN>")],
        blocks[3][blocks[3].index("<UPN>"):blocks[3].index("</UPN>")],
    )                                                                          # shared UPN (review)
    blocks[20] = blocks[20].replace("<PostCode>MK45", "<PostCode>MK", 1)       # bad postcode
    text = "   <PupilOnRoll>".join(blocks)
    stray = " <Stray><PupilOnRoll><PupilIdentifiers/></PupilOnRoll></Stray>\n"
    text = text.replace(" <Pupils>", stray + " <Pupils>")
    return text.replace("</Message>", "<Unknown><Thing>1</Thing></Unknown>\n</Message>")


def test_a_generated_census_parses_the_same_in_two_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "8231234_SC_2025AUT.xml"
    path.write_text(_census(tmp_path))
    ahead = _run(path, monkeypatch, True)
    assert ahead == _run(path, monkeypatch, False)
    report = ahead["report"]
    assert report["complete"] and report["accepted"] == 697 and report["rejected_count"] == 4
    assert report["dropped"]["Unknown"] == 1 and report["dropped"]["Attendance"] == 700


@pytest.mark.parametrize(
    "fixture", ["census_markers.xml", "census_mixed.xml", "ctf_markers.xml", "ctf_empty.xml"]
)
def test_fixtures_parse_the_same_in_two_processes(fixture: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _run(DATA / fixture, monkeypatch, True) == _run(DATA / fixture, monkeypatch, False)


def test_a_truncated_file_fails_at_the_same_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = _census(tmp_path)
    path = tmp_path / "8231234_SC_2025AUT.xml"
    path.write_text(text[: len(text) * 3 // 5])
    ahead = _run(path, monkeypatch, True)
    assert ahead == _run(path, monkeypatch, False)
    assert ahead["failure"] is not None and ahead["failure"][1] is True
    assert "is truncated" in ahead["failure"][0] and len(ahead["items"]) > 300


def test_a_header_for_another_school_stops_the_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "8231234_SC_2025AUT.xml"
    path.write_text(_census(tmp_path))
    ahead = _run(path, monkeypatch, True, expected_laestab="8239999")
    assert ahead == _run(path, monkeypatch, False, expected_laestab="8239999")
    assert ahead["failure"] == (
        "8231234_SC_2025AUT.xml: is from school 8231234, but it was submitted for school 8239999", False
    )


def test_abandoning_the_parse_stops_the_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "8231234_SC_2025AUT.xml"
    write_census(path, 3000)  # more than the pipe holds: the reader is blocked when we leave
    monkeypatch.setattr(read_ahead, "READ_AHEAD_BYTES", 0)
    items = iter(parse_feed(path))
    for _ in range(10):
        next(items)
    assert len(multiprocessing.active_children()) == 1
    items.close()  # type: ignore[attr-defined]
    assert not multiprocessing.active_children()


def test_a_reader_that_dies_is_a_clear_file_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "8231234_SC_2025AUT.xml"
    write_census(path, 1000)
    real = school_xml.read_school_file

    def dying(*args: Any) -> Any:  # runs in the child: it dies part-way, with no word
        for number, read in enumerate(real(*args)):
            if number == 600:
                os._exit(9)
            yield read

    monkeypatch.setattr(school_xml, "read_school_file", dying)
    monkeypatch.setattr(read_ahead, "READ_AHEAD_BYTES", 0)
    parse = parse_feed(path)
    seen = 0
    with pytest.raises(FeedError, match="could not be read to its end") as caught:
        for _ in parse:
            seen += 1
    assert caught.value.truncated and 0 < seen < 600
    assert parse.report.failure is not None and not parse.report.complete
    assert not multiprocessing.active_children()


def test_the_reader_does_not_run_the_parents_signal_handlers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A parent's SIGTERM handler (say, one that releases a nightly run's lock) must not run in
    # the reader when the reader is stopped.
    import signal

    path = tmp_path / "8231234_SC_2025AUT.xml"
    write_census(path, 3000)
    ran = tmp_path / "handler-ran"

    def handler(signum: int, frame: Any) -> None:
        ran.write_text(str(os.getpid()))

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        monkeypatch.setattr(read_ahead, "READ_AHEAD_BYTES", 0)
        items = iter(parse_feed(path))
        for _ in range(10):
            next(items)
        (reader,) = multiprocessing.active_children()
        items.close()  # type: ignore[attr-defined]
        assert reader.exitcode == -signal.SIGTERM
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert not ran.exists()
