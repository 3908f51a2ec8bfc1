"""The feed-faults benchmark (`python -m ops.bench.feed_faults`) on a small area: service-feed
rows with spoilt dates of birth are none of them rejected, none linked to the wrong child."""

from __future__ import annotations

from pathlib import Path

from ops.bench.feed_faults import run
from ops.synth.area import write_area


def test_no_spoilt_date_rejects_a_row_or_links_the_wrong_child(tmp_path: Path) -> None:
    write_area(tmp_path / "area", 400, "823", 3)
    result = run(tmp_path / "area")
    fates = result["their fate"]
    assert isinstance(fates, dict) and result["spoilt dates"] == sum(fates.values()) > 10
    assert fates["rejected"] == 0 and "linked, wrong child" not in fates
    assert fates["linked, right child"] > sum(v for k, v in fates.items() if k.startswith("held"))
