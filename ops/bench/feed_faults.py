"""Service feeds with unusable dates of birth through the nightly run (issue 15): how many rows
are dropped, linked (to the right child?) or held.

`python -m ops.bench.feed_faults AREA [SEED]`: AREA is a synthetic area (`childindex synth`).
Its census and CTF files are submitted and run into a fresh SQLite store; then its service feeds,
with the faults of lists from other services and from abroad on top (`ops.noise.ListFaults`, as
`childindex bench match --lists`: dates that are not dates 4%, blank dates 3%, garbled or
foreign postcodes 5%), are submitted and run. Every row with a spoilt date is followed against
the area's truth: rejected, linked to the stored child its other records went to (or another),
or held. Small areas only (it runs the whole pipeline in one process).
"""

from __future__ import annotations

import csv
import random
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

from sqlalchemy import select

from index import models as m
from index.store import make_engine, upgrade
from ingest import run_nightly, submit_file
from ops.bench.lists import _fault
from ops.noise import ListFaults


def spoil_feeds(area: Path, out: Path, seed: int) -> tuple[set[tuple[str, str]], Counter[str]]:
    """Write the area's feeds with list faults into `out`; the rows whose date was spoilt."""
    rng = random.Random(seed)
    spoilt: set[tuple[str, str]] = set()
    counts: Counter[str] = Counter()
    for feed in sorted((area / "feeds").glob("*.csv")):
        with feed.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
            columns = list(rows[0]) if rows else []
        for line, row in enumerate(rows, start=2):
            born = row["date_of_birth"]
            _fault(row, ListFaults(), rng, counts)
            if row["date_of_birth"] != born:
                spoilt.add((f"feeds/{feed.name}", f"line {line}"))
        with (out / feed.name).open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
    return spoilt, counts


def run(area: Path, seed: int = 15) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="feed-faults-") as tmp:
        work = Path(tmp)
        (work / "feeds").mkdir()
        spoilt, faults = spoil_feeds(area, work / "feeds", seed)
        engine = make_engine(f"sqlite:///{work / 'store.db'}")
        upgrade(engine)
        files: dict[int, str] = {}
        schools = sorted((area / "census").glob("*AUT.xml")) + sorted((area / "census").glob("*SPR.xml"))
        for path in schools + sorted((area / "ctf").glob("*.xml")):
            sub = submit_file(engine, path, source=path.name[:7])
            files[sub.submission_id] = f"{path.parent.name}/{path.name}"
        run_nightly(engine)
        for path in sorted((work / "feeds").glob("*.csv")):
            sub = submit_file(engine, path, source=path.stem.replace("_", "")[:16], la=area_la(area))
            files[sub.submission_id] = f"feeds/{path.name}"
        run_nightly(engine)
        with engine.connect() as conn:
            staged = conn.execute(select(m.StagedRecord.submission_id, m.StagedRecord.record_ref,
                                         m.StagedRecord.child_id, m.StagedRecord.outcome)).all()
            rejected = conn.execute(select(m.StagedRejection.submission_id)).scalars().all()
        engine.dispose()
    with (area / "truth.csv").open(encoding="utf-8") as handle:
        truth = {(r["source_file"], r["record_ref"]): int(r["true_child_id"]) for r in csv.DictReader(handle)}
    # Each true child's stored child: where its records with an intact date went.
    stored: dict[int, Counter[int]] = defaultdict(Counter)
    for sub, ref, child, _outcome in staged:
        if (files[sub], ref) not in spoilt and child is not None:
            stored[truth[(files[sub], ref)]][child] += 1
    fates: Counter[str] = Counter()
    for sub, ref, child, outcome in staged:
        if (files[sub], ref) not in spoilt:
            continue
        known = stored[truth[(files[sub], ref)]].most_common(1)
        if outcome == "link":
            fates["linked, right child" if known and known[0][0] == child
                  else "linked, wrong child" if known else "linked, child held by no other record"] += 1
        else:
            fates[f"{outcome}, child {'stored' if known else 'held by no other record'}"] += 1
    fates["rejected"] = len(spoilt) - sum(fates.values())
    return {"feed rows": sum(1 for f, _r in truth if f.startswith("feeds/")),
            "feed rows rejected": sum(1 for s in rejected if files[s].startswith("feeds/")),
            "faults": dict(sorted(faults.items())), "spoilt dates": len(spoilt),
            "their fate": dict(sorted(fates.items()))}


def area_la(area: Path) -> str:
    """The area's LA: the first three digits of its schools' LAEstab."""
    return next((area / "census").glob("*.xml")).name[:3]


if __name__ == "__main__":
    for key, value in run(Path(sys.argv[1]), *(int(a) for a in sys.argv[2:3])).items():
        print(f"{key}: {value}")
