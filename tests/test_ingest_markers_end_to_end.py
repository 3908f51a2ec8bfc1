"""Nothing prohibited is ever kept, end to end.

The census and CTF fixtures plant a unique MARKER-... value in every prohibited section (and in
unknown elements). Both files are submitted and run through `childindex ingest` in a subprocess
whose TMPDIR is a test directory and whose log output is captured; then no marker may appear in
the database files (main file, -wal, -shm: the embedded search index lives there too), the lock
file, the logs and command output, the reports (text and JSON), or anything in the temp directory.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from index import models as m
from index import transaction
from index.store import make_engine, upgrade

DATA = Path(__file__).parent / "data" / "ingest"
MARKER = re.compile(r"MARKER-[A-Z0-9-]+")
INGEST = [sys.executable, "-m", "ops.ingest"]


def _planted() -> set[str]:
    markers: set[str] = set()
    for name in ("census_markers.xml", "ctf_markers.xml"):
        markers |= set(MARKER.findall((DATA / name).read_text(encoding="utf-8")))
    return markers


def test_markers_appear_nowhere(tmp_path: Path) -> None:
    planted = _planted()
    assert len(planted) >= 30  # every prohibited section of both files carries one
    db = tmp_path / "store" / "childindex.db"
    temp = tmp_path / "tmp"
    temp.mkdir()
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    env = {**os.environ, "CHILDINDEX_DATABASE_URL": f"sqlite:///{db}", "TMPDIR": str(temp),
           "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("CHILDINDEX_INGEST_KILL_AT", None)

    outputs: list[str] = []

    def ingest(*args: str) -> None:
        done = subprocess.run([*INGEST, *args], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        outputs.extend((done.stdout, done.stderr))

    ingest("submit", str(DATA / "census_markers.xml"), "--source", "8231234")
    ingest("submit", str(DATA / "ctf_markers.xml"), "--source", "8231234")
    ingest("run")
    for submission in ("1", "2"):
        ingest("report", submission)
        ingest("report", submission, "--json")

    with transaction(engine) as session:
        # The files really went through: children, carers, involvements in store and search.
        assert session.scalar(select(func.count()).select_from(m.Child)) >= 3
        assert session.scalar(select(func.count()).select_from(m.Carer)) >= 2
        assert session.scalar(select(func.count()).select_from(m.SearchKey)) > 0
        assert session.scalar(select(m.StagedSubmission.state).where(
            m.StagedSubmission.submission_id == 2)) == "done"
    engine.dispose()
    assert any("Ethnicity" in o for o in outputs)  # the report counts what was dropped...

    places: dict[str, bytes] = {f"output {i}": o.encode() for i, o in enumerate(outputs)}
    for folder in (db.parent, temp):
        for path in folder.rglob("*"):
            if path.is_file():
                places[str(path)] = path.read_bytes()
    # The scan sees what was kept (a kept name is there), so it would see a marker too.
    assert any(b"Okafor" in content for where, content in places.items() if "childindex.db" in where)
    found = {(marker, where) for where, content in places.items() for marker in planted
             if marker.encode() in content}
    assert not found  # ...and never a value
