"""`childindex bench ingest --end-to-end`, small: the store is built as described (another LA's
children, then the school's previous census through ingest), and both ways of running the
census are measured on fresh copies with the outcomes the generated data implies."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ops.bench import ingest as bench


def test_end_to_end_builds_its_store_and_measures_both_ways(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # the store is built under var/bench/ of the working directory
    bench.end_to_end(store_children=400, pupils=100, seed=1, workdir=tmp_path, runs=1)
    out = capsys.readouterr().out
    assert bench.e2e_store_path(400, 100, 1).exists()
    figures = r": .*outcomes (\{.*?\}), recognised unchanged (\d+)"
    termly = re.search(r"termly \(unchanged pupils recognised\)" + figures, out)
    full = re.search(r"every pupil matched in full" + figures, out)
    assert termly and full, out
    # 100 pupils: every 10th is new (10) and every 20th from the first has moved (5).
    assert termly.group(1) == full.group(1)
    assert int(full.group(2)) == 0
    assert int(termly.group(2)) == 100 - 10 - 5

    # The loose pass's recall on that store: known pupils without their UPN, both variants.
    census = tmp_path / "census.xml"
    bench.write_census(census, 100, seed=1)
    results = bench.loose_recall(bench.e2e_store_path(400, 100, 1), census, records=10)
    decided = {label: sum(v for k, v in counts.items() if k != "candidates read")
               for label, counts in results.items()}
    assert set(decided.values()) == {10}
    assert all(counts["linked right"] >= 8 for counts in results.values()), results


def test_a_failing_measurement_shows_the_childs_stderr(tmp_path: Path) -> None:
    """A measuring process that fails says why (its stderr), not only its exit status."""
    with pytest.raises(RuntimeError, match=r"(?s)exited with status \d+; its stderr ends:\n.*Error"):
        bench._run_child([str(tmp_path / "missing.xml"), "full"])
