"""The README's first command runs `childindex demo`: it loads once and searches every time."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from ops.cli import app


def _run(db: Path) -> str:
    result = CliRunner().invoke(app, ["demo", "--children", "300", "--db", str(db)])
    assert result.exit_code == 0, result.output
    return result.output


def test_demo_loads_once_and_finds_the_noisy_examples(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    first = _run(db)
    assert "loaded now" in first
    assert re.search(r"children\s+300\b", first)
    examples = first.split("example searches")[1]
    # Every example search put the child it was made from first.
    firsts = [line for line in examples.splitlines() if line.strip().startswith("1. ")]
    assert len(firsts) == 4
    assert all(line.endswith("<- the child this example was made from") for line in firsts)
    assert "no match" not in examples

    second = _run(db)
    assert "already loaded" in second
    assert re.search(r"children\s+300\b", second)
    assert second.split("example searches")[1] == examples
