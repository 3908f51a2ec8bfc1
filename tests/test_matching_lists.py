"""`childindex link` and `childindex dedupe`: users' own lists, bad rows, outputs."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from matching import MatchModel, make_person
from matching.linkage import clusters, dedupe_pairs, link_lists
from ops.cli import app
from ops.lists import read_list

HEADER = "id,given_name,middle_names,family_name,date_of_birth,sex,postcode,address,town,upn,nhs_number,uln"

LEFT = f"""{HEADER}
L1,Amelia,Rose,Hughes,2015-03-04,F,MK40 1AA,12 Harpur Street,Bedford,,,
L2,Oliver,,Okafor,2012-11-23,M,LU1 1AA,4 Elm Close,Luton,,9434765870,
L3,Zoë,,O'Brien-Smith,2014-07-09,F,SG1 2AB,1 Park Lane,Stevenage,,,
L4,Jack,,Nowak,2011-01-15,M,MK42 9XY,7 Mill Road,Kempston,,,
L5,Grace,,Evans,2013-05-05,F,MK41 7QQ,3 Castle Road,Bedford,,,
"""

RIGHT = f"""{HEADER}
R1,Millie,,HUGHES,2015-03-04,female,mk40 1aa,"12, Harpur St",Bedford,,,
R2,Olly,,Okafor,2012-11-24,M,LU2 8BB,9 New Road,Luton,,943 476 5870,
R3,Zoe,,Obrien Smith,2014-09-07,F,SG1 2AB,1 Park Lane,Stevenage,,,
R4,Ruby,,Patel,2010-02-02,F,MK40 3XY,2 Bank Street,Bedford,,,
R5,Grace,,Evans,2013-05-05,F,LS1 4AP,1 Park Row,Leeds,,,
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_link_command_writes_one_to_one_pairs(tmp_path: Path) -> None:
    out = tmp_path / "pairs.csv"
    result = CliRunner().invoke(app, ["link", str(write(tmp_path, "l.csv", LEFT)),
                                      str(write(tmp_path, "r.csv", RIGHT)), "--out", str(out)])
    assert result.exit_code == 0, result.output
    pairs = rows(out)
    assert list(pairs[0]) == ["left_id", "right_id", "score", "decision"]
    by_left = {p["left_id"]: p for p in pairs}
    assert by_left["L1"]["right_id"] == "R1" and by_left["L1"]["decision"] == "link"
    assert by_left["L2"]["right_id"] == "R2" and by_left["L2"]["decision"] == "link"  # NHS number
    assert by_left["L3"]["right_id"] == "R3" and by_left["L3"]["decision"] == "link"  # swapped dob
    assert "L4" not in by_left  # no counterpart
    assert by_left["L5"]["right_id"] == "R5"  # same name and date of birth, moved
    assert len({p["right_id"] for p in pairs}) == len(pairs)
    for p in pairs:
        assert 0.0 <= float(p["score"]) <= 1.0


def test_link_is_one_to_one_even_when_two_records_fit() -> None:
    model = MatchModel.load()
    a = make_person("a", given_name="Amelia", family_name="Hughes", date_of_birth=None,
                    postcode="MK40 1AA", address="12 Harpur Street")
    left = [a, make_person("b", given_name="Amelia", family_name="Hughes", postcode="MK40 1AA",
                           address="12 Harpur Street")]
    right = [make_person("x", given_name="Amelia", family_name="Hughes", postcode="MK40 1AA",
                         address="12 Harpur Street")]
    pairs = link_lists(left, right, model)
    assert len(pairs) == 1 and pairs[0].right == "x"


def test_bad_rows_are_reported_by_line_and_skipped(tmp_path: Path) -> None:
    text = (
        "id,given_name,family_name,date_of_birth,postcode,nhs_number\n"
        "1,Amelia,Hughes,2015-03-04,MK40 1AA,\n"
        ",,,,,\n"                                 # blank line: ignored, not a problem
        "2,Secretname,Hughes,2015-02-30,MK40 1AA,\n"  # impossible date
        ",Oscar,Jones,2014-01-01,,\n"             # empty id
        "4,Oscar,Jones,1850-01-01,,\n"            # absurd date
        f"5,{'A' * 500},Jones,2014-01-01,,\n"     # very long name
        "6,Oscar,Jones,2014-01-01,,9434765871\n"  # bad check digit
        "7,Иван,Петров,2014-01-01,,\n"            # non-Latin: fine
        "1,Amelia,Hughes,2015-03-04,MK40 1AA,\n"  # repeated id
        "8,too,many,fields,here,x,y\n"
        "9,李,王,2016-06-06,,\n"
        "10,,,,,\n"                               # all fields missing but the id
    )
    read = read_list(write(tmp_path, "bad.csv", text))
    # A row with one unusable value is kept (issue 15 item 8); only unreadable rows are skipped.
    assert [p.ref for p in read.people] == ["1", "2", "4", "5", "6", "7", "9"]
    problems = "\n".join(read.problems)
    for line, reason in [(5, "id is empty"), (10, "repeats"), (11, "has 7 fields"),
                         (13, "nothing to match on")]:
        assert f"line {line}: " in problems and reason in problems, (line, reason)
    assert len(read.problems) == 4
    assert dict(read.warnings) == {("date_of_birth", "not a real calendar date"): 1,
                                   ("date_of_birth", "not a plausible date of birth"): 1,
                                   ("given_name", "longer than 100 characters"): 1,
                                   ("nhs_number", "not valid"): 1}
    assert "Secretname" not in problems and "9434765871" not in problems


def test_unknown_or_prohibited_columns_reject_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "x.csv", "id,family_name,ethnicity\n1,Hughes,X\n")
    result = CliRunner().invoke(app, ["dedupe", str(path), "--out", str(tmp_path / "c.csv")])
    assert result.exit_code == 2
    assert "unknown column(s) 'ethnicity'" in result.output
    assert not (tmp_path / "c.csv").exists()


def test_empty_file_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["dedupe", str(write(tmp_path, "e.csv", "")),
                                      "--out", str(tmp_path / "c.csv")])
    assert result.exit_code == 2 and "empty" in result.output


def test_dedupe_command_clusters_duplicates(tmp_path: Path) -> None:
    text = f"""{HEADER}
a,Amelia,,Hughes,2015-03-04,F,MK40 1AA,12 Harpur Street,Bedford,,,
b,Oscar,,Jones,2012-01-01,M,LU1 1AA,4 Elm Close,Luton,,,
c,Millie,,Hughes,2015-03-04,F,MK40 1AA,12 Harpur St,Bedford,,,
d,Amelia,,Hughes,2015-04-03,F,,,,,,
e,Ruby,,Hughes,2012-09-30,F,MK40 1AA,12 Harpur Street,Bedford,,,
bad,Nobody,,,,,,,,,,
"""
    out, pairs_out = tmp_path / "clusters.csv", tmp_path / "pairs.csv"
    result = CliRunner().invoke(app, ["dedupe", str(write(tmp_path, "d.csv", text)),
                                      "--out", str(out), "--pairs", str(pairs_out)])
    assert result.exit_code == 0, result.output
    assert "6 rows used, 0 rows skipped" in result.output  # a name alone is enough to keep a row
    cluster = {r["id"]: r["cluster_id"] for r in rows(out)}
    assert set(cluster) == {"a", "b", "c", "d", "e", "bad"}
    assert cluster["a"] == cluster["c"] == cluster["d"]
    assert len({cluster["a"], cluster["b"], cluster["e"]}) == 3  # a sibling is not a duplicate
    assert all(r["decision"] in ("link", "review") for r in rows(pairs_out))


def test_thresholds_from_the_command_line(tmp_path: Path) -> None:
    left = write(tmp_path, "l.csv", LEFT)
    right = write(tmp_path, "r.csv", RIGHT)
    strict, loose = tmp_path / "s.csv", tmp_path / "o.csv"
    runner = CliRunner()
    assert runner.invoke(app, ["link", str(left), str(right), "--out", str(strict),
                               "--link", "0.99999999999", "--review", "0.9999999999"]).exit_code == 0
    assert runner.invoke(app, ["link", str(left), str(right), "--out", str(loose)]).exit_code == 0
    assert len(rows(strict)) < len(rows(loose))
    bad = runner.invoke(app, ["link", str(left), str(right), "--out", str(strict),
                              "--link", "0.5", "--review", "0.9"])
    assert bad.exit_code != 0


def test_estimate_option_runs_on_the_lists(tmp_path: Path) -> None:
    out = tmp_path / "pairs.csv"
    result = CliRunner().invoke(app, ["link", str(write(tmp_path, "l.csv", LEFT)),
                                      str(write(tmp_path, "r.csv", RIGHT)), "--out", str(out),
                                      "--estimate"])
    assert result.exit_code == 0, result.output
    assert {p["left_id"] for p in rows(out)} >= {"L1", "L2"}


@pytest.mark.parametrize("n", [0, 1])
def test_tiny_lists_do_not_crash(n: int) -> None:
    people = [make_person(i, family_name="Hughes", postcode="MK40 1AA") for i in range(n)]
    pairs = dedupe_pairs(people, MatchModel.load())
    assert clusters(people, pairs) == {i: i + 1 for i in range(n)}


def test_rows_with_unusable_values_are_linked_and_counted_not_listed(tmp_path: Path) -> None:
    """Issue 15 item 8: a date that is not a date, a foreign postcode, a missing date: every row
    is kept and linked to its child; the warnings are counted per field and reason."""
    right = f"""{HEADER}
k1,Amelia,,Hughes,2013-05-13,F,MK40 1AA,12 Harpur Street,Bedford,,,
k2,Oscar,,Jones,2012-02-28,M,LU1 1AA,4 Elm Close,Luton,,,
k3,Zofia,,Nowak,2014-07-09,F,MK42 9XX,3 Ash Road,Kempston,,,
k4,Ruby,,Hughes,2011-09-30,F,MK40 1AA,12 Harpur Street,Bedford,,,
"""
    left = f"""{HEADER}
a,Amelia,,Hughes,2013-13-05,F,MK40 1AA,12 Harpur Street,Bedford,,,
b,Oscar,,Jones,2012-02-30,M,LU1 1AA,4 Elm Close,Luton,,,
c,Zofia,,Nowak,2014-07-09,F,00-950,ul. Lipowa 3,Warszawa,,,
d,Ruby,,Hughes,,F,MK4O 1AA,12 Harpur Street,Bedford,,,
"""
    out = tmp_path / "pairs.csv"
    result = CliRunner().invoke(app, ["link", str(write(tmp_path, "l.csv", left)),
                                      str(write(tmp_path, "r.csv", right)), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "4 rows used, 0 rows skipped" in result.output
    assert "2 rows: date_of_birth not a real calendar date, compared as text" in result.output
    assert "1 rows: postcode not a UK postcode, compared as free text" in result.output
    assert "line " not in result.output and "2013-13-05" not in result.output
    linked = {r["left_id"]: (r["right_id"], r["decision"]) for r in rows(out)}
    assert {k: v[0] for k, v in linked.items()} == {"a": "k1", "b": "k2", "c": "k3", "d": "k4"}


def test_faulty_generated_lists_lose_no_row(tmp_path: Path) -> None:
    """The benchmark's faulty lists (ops/bench/lists.py), small and with the faults at double
    rates: no row dropped, links precise, recall high."""
    from ops.bench.lists import ours, write_lists
    from ops.noise import ListFaults

    lists = write_lists(800, 3, tmp_path, ListFaults(0.08, 0.10, 0.06))
    assert sum(lists.faults.values()) > 80
    scored, warnings = ours(lists, MatchModel.load())
    assert scored.used == scored.rows
    assert scored.precision >= 0.99 and scored.recall >= 0.98, scored.line("link")
    assert any("compared as text" in w for w in warnings)
