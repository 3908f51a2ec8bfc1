"""The postcode-to-LA table (issue 17, moves between LAs): DfE's LA codes as shipped, the table
the nightly run reads (`PostcodeAreas`), and `childindex postcodes import` from the ONS postcode
directory: counted skips, bad rows named by line and column, atomic writes, collapsing."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from index.la_codes import GSS_CODE, LA_CODES, la_codes, read_la_codes
from index.ownership import PostcodeAreas, area_key
from ops.bench.postcodes import HEADER, directory_rows, write_directory
from ops.cli import app
from ops.postcodes import Collapse, ImportRefused, import_directory

# --- DfE's LA codes -----------------------------------------------------------------------------


def test_the_shipped_la_codes_are_well_formed_and_name_their_source() -> None:
    text = LA_CODES.read_text(encoding="utf-8")
    assert "github.com/dfe-analytical-services/dfe-published-data-qa" in text
    assert "Open Government Licence" in text
    rows = list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))
    codes = [row["gss_code"] for row in rows]
    assert len(codes) == len(set(codes))
    assert all(GSS_CODE.fullmatch(code) and code.startswith("E") for code in codes)
    assert all(re.fullmatch(r"\d{3}", row["la"]) for row in rows)
    live = [row for row in rows if row["status"] == "live"]
    # 152 LAs, 153 since Cumbria became two (2023); each live number once.
    assert len(live) == 153 and len({row["la"] for row in live}) == 153
    assert {row["status"] for row in rows} == {"live", "terminated"}


@pytest.mark.parametrize(("gss", "la", "name"), [
    ("E09000033", "213", "Westminster"),
    ("E09000007", "202", "Camden"),
    ("E08000025", "330", "Birmingham"),
    ("E08000003", "352", "Manchester"),
    ("E06000055", "822", "Bedford"),
    ("E06000056", "823", "Central Bedfordshire"),
    ("E06000032", "821", "Luton"),
    ("E10000016", "886", "Kent"),
    ("E10000015", "919", "Hertfordshire"),
    ("E06000061", "940", "North Northamptonshire"),  # Northamptonshire split, 2021
    ("E06000062", "941", "West Northamptonshire"),
    ("E06000063", "942", "Cumberland"),  # Cumbria split, 2023
    ("E06000064", "943", "Westmorland and Furness"),
    ("E06000065", "815", "North Yorkshire"),  # county to unitary, 2023: same number
    ("E06000066", "933", "Somerset"),
    ("E06000060", "825", "Buckinghamshire"),  # 2020
    ("E06000058", "839", "Bournemouth, Christchurch and Poole"),  # 2019
    ("E06000059", "838", "Dorset"),
])
def test_well_known_las(gss: str, la: str, name: str) -> None:
    authority = la_codes().by_gss[gss]
    assert (authority.la, authority.name, authority.live) == (la, name, True)
    assert la_codes().number_of(gss) == la


def test_reorganised_las_old_codes() -> None:
    codes = la_codes()
    # The LA went (split or merged): its old code names nobody, and says so.
    for gone in ("E10000021", "E10000006", "E10000009", "E06000028", "E06000029"):
        assert codes.number_of(gone) is None and codes.abolished(gone)
    # The LA stayed under its number with a new code (older directories still place it).
    assert codes.number_of("E10000023") == "815" and codes.number_of("E10000027") == "933"
    assert codes.number_of("E08000016") == "370"  # Barnsley before its 2025 code
    # Not an English LA at all: not abolished, simply not one of DfE's.
    for elsewhere in ("W06000015", "S12000033", "N09000003", "L99999999", "E07000150"):
        assert codes.number_of(elsewhere) is None and not codes.abolished(elsewhere)


def test_a_malformed_la_codes_file_is_refused(tmp_path: Path) -> None:
    good = "gss_code,la,la_name,status\nE09000033,213,Westminster,live\n"
    assert read_la_codes(_write(tmp_path / "ok.csv", good)).number_of("E09000033") == "213"
    for bad in (good + "E09000033,213,Westminster again,live\n", good.replace("213", "21"),
                good.replace("E09000033", "X09000033"), good.replace("live", "alive")):
        with pytest.raises(ValueError, match=r"data row (2|3)"):
            read_la_codes(_write(tmp_path / "bad.csv", bad))


# --- The table the nightly run reads ------------------------------------------------------------


def test_a_sector_is_not_read_as_a_district() -> None:
    """Sector E1 6 (Tower Hamlets) and district E16 (Newham) were the same key once spaces were
    removed: a sector row made every E16 postcode Tower Hamlets'."""
    areas = PostcodeAreas.of([("E16", "316"), ("E1 6", "211")])
    assert areas.la_of("E16 1AA") == "316"
    assert areas.la_of("E1 6AN") == "211"
    assert areas.la_of("E1 7AA") is None
    assert (area_key("e1  6"), area_key("E16"), area_key("e1 6an"), area_key("E1 6A")) == (
        "E1 6", "E16", "E16AN", None)


def test_the_longest_match_wins_and_partial_postcodes_are_looked_up_as_written() -> None:
    areas = PostcodeAreas.of({"MK45": "823", "MK45 2": "822", "MK45 2AB": "821", "SW1A 1AA": "213"})
    assert [areas.la_of(p) for p in ("mk45 2ab", "MK452AD", "MK45 3AA", "MK45", "MK45 2", "sw1a1aa",
                                     "MK46 1AA", "", None, "not a postcode")] == [
        "821", "822", "823", "823", "822", "213", None, None, None, None]
    assert len(areas) == 4


def test_a_table_naming_one_postcode_twice_with_different_las_is_refused(tmp_path: Path) -> None:
    same = _write(tmp_path / "same.csv", "postcode,la\nMK45 2AB,823\nMK452AB,823\n")
    assert PostcodeAreas.from_file(same).la_of("MK45 2AB") == "823"
    clash = _write(tmp_path / "clash.csv", "postcode,la\nMK45 2AB,823\nMK45 2AD,823\nmk452ab,822\n")
    with pytest.raises(ValueError, match="1 postcodes") as refused:
        PostcodeAreas.from_file(clash)
    assert "MK45" not in str(refused.value)
    with pytest.raises(ValueError, match="line 3"):
        PostcodeAreas.from_file(_write(tmp_path / "bad.csv", "# c\npostcode,la\nNOPE,823\n"))


# --- childindex postcodes import ----------------------------------------------------------------

# Rows as the ONS writes them (every field quoted): pcds, cty, laua; line numbers in comments.
NSPL_ROWS = [
    ("MK45 2AB", "E99999999", "E06000056"),  # 2: Central Bedfordshire (unitary)
    ("MK45 2AD", "E99999999", "E06000056"),  # 3
    ("MK45 3AA", "E99999999", "E06000055"),  # 4: Bedford
    ("CF10 1AA", "W99999999", "W06000015"),  # 5: Cardiff: not a DfE LA
    ("EH1 1AA", "S99999999", "S12000036"),  # 6: Edinburgh
    ("GY1 1AA", "L99999999", "L99999999"),  # 7: Guernsey (pseudo code)
    ("NN17 1AA", "E10000021", "E07000150"),  # 8: Corby, in a directory older than 2021
    ("NN17 2AA", "E99999999", "E06000061"),  # 9: North Northamptonshire
    ("SG5 4AA", "E10000015", "E07000099"),  # 10: North Hertfordshire: the county is the LA
    ("SG5 4AB", "E10000015", "E07000099"),  # 11
    ("SW1A 1AA", "E99999999", "E09000033"),  # 12: Westminster
    ("ZZ99 9ZZ", "", ""),  # 13: no LA given
]


def _nspl(rows: list[tuple[str, str, str]], extra: str = "") -> str:
    lines = ['"pcd","pcds","dointr","cty","laua","ctry"']
    lines += [f'"{pc.replace(" ", "")}","{pc}","198001","{cty}","{laua}","E92000001"'
              for pc, cty, laua in rows]
    return "\n".join(lines) + "\n" + extra


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_import_maps_each_english_postcode_to_its_la_and_counts_what_it_skips(tmp_path: Path) -> None:
    out = tmp_path / "las" / "postcode_las.csv"
    report = import_directory(_write(tmp_path / "nspl.csv", _nspl(NSPL_ROWS)), out)
    areas = PostcodeAreas.from_file(out)
    assert {pc: areas.la_of(pc) for pc, _c, _l in NSPL_ROWS} == {
        "MK45 2AB": "823", "MK45 2AD": "823", "MK45 3AA": "822", "CF10 1AA": None, "EH1 1AA": None,
        "GY1 1AA": None, "NN17 1AA": None, "NN17 2AA": "940", "SG5 4AA": "919", "SG5 4AB": "919",
        "SW1A 1AA": "213", "ZZ99 9ZZ": None}
    assert (report.rows, report.postcodes, report.units, report.bad, report.no_la) == (12, 7, 7, 0, 1)
    assert report.outside == {"W06000015": 1, "S12000036": 1, "L99999999": 1}
    assert report.abolished == {"E10000021": 1}
    text = "\n".join(report.lines())
    assert "Wales: 1" in text and "Scotland: 1" in text and "E10000021" in text
    assert out.read_text(encoding="utf-8").startswith("# postcode -> DfE LA number")
    assert [p.name for p in out.parent.iterdir()] == ["postcode_las.csv"]  # no temporary left


def test_a_postcode_outside_the_uk_format_is_skipped_only_outside_england(tmp_path: Path) -> None:
    """A row no DfE LA would get is counted whatever its postcode looks like (the directory's
    overseas territories); a row for an English LA must carry a postcode."""
    rows = [("ASCN 1ZZ", "", "L99999999"), ("GIR 0AA", "E99999999", "E08000014"), *NSPL_ROWS[:2]]
    out = tmp_path / "las.csv"
    report = import_directory(_write(tmp_path / "nspl.csv", _nspl(rows)), out)
    assert (report.bad, report.outside["L99999999"], report.postcodes) == (0, 1, 3)
    assert PostcodeAreas.from_file(out).la_of("GIR 0AA") == "343"
    with pytest.raises(ImportRefused, match="line 2: column pcds: not a postcode"):
        import_directory(_write(tmp_path / "bad.csv", _nspl([("ASCN 1ZZ", "", "E06000056")])), out)


def test_collapsing_to_sectors_and_districts_keeps_every_answer(tmp_path: Path) -> None:
    """A sector with every postcode in one LA becomes one row; a sector straddling a border (or
    with a Welsh postcode) keeps its postcodes, and the Welsh one stays unknown."""
    rows = [("LU5 4AA", "E99999999", "E06000056"), ("LU5 4AB", "E99999999", "E06000056"),
            ("LU5 5AA", "E99999999", "E06000056"), ("LU5 5AB", "E99999999", "E06000032"),
            ("NP16 5AA", "E99999999", "E06000025"), ("NP16 5AB", "W99999999", "W06000021"),
            ("SG5 4AA", "E10000015", "E07000099"), ("SG5 4AB", "E10000015", "E07000099")]
    directory = _write(tmp_path / "nspl.csv", _nspl(rows))
    tables = {c: tmp_path / f"{c.value}.csv" for c in Collapse}
    reports = {c: import_directory(directory, tables[c], collapse=c) for c in Collapse}
    body = {c: [line for line in tables[c].read_text(encoding="utf-8").splitlines()[2:]] for c in Collapse}
    assert body[Collapse.SECTORS] == ["LU5 4,823", "LU5 5AA,823", "LU5 5AB,821", "NP16 5AA,803", "SG5 4,919"]
    assert body[Collapse.DISTRICTS] == ["LU5 4,823", "LU5 5AA,823", "LU5 5AB,821", "NP16 5AA,803", "SG5,919"]
    assert (reports[Collapse.SECTORS].sectors, reports[Collapse.DISTRICTS].districts) == (2, 1)
    for collapse in Collapse:
        areas = PostcodeAreas.from_file(tables[collapse])
        assert [areas.la_of(pc) for pc, _c, _l in rows] == [
            "823", "823", "823", "821", "803", None, "919", "919"], collapse
    # A new postcode in a collapsed sector is placed by its sector.
    assert PostcodeAreas.from_file(tables[Collapse.SECTORS]).la_of("LU5 4ZZ") == "823"


def test_a_generated_national_directory_gives_the_same_answers_collapsed_or_not(tmp_path: Path) -> None:
    directory = write_directory(tmp_path / "nspl.csv", 30_000, seed=5)
    codes = la_codes()
    expected = {}
    for line in directory_rows(30_000, seed=5):
        fields = line.split(",")
        county, district = fields[10], fields[12]
        expected[fields[2]] = codes.number_of(county if county.startswith("E10") else district)
    assert HEADER.split(",")[2] == "pcds" and None in expected.values() and len(set(expected.values())) > 20
    for collapse in Collapse:
        out = tmp_path / f"{collapse.value}.csv"
        report = import_directory(directory, out, collapse=collapse)
        areas = PostcodeAreas.from_file(out)
        assert {pc: areas.la_of(pc) for pc in expected} == expected, collapse
        assert report.rows == 30_000 and report.bad == 0
    assert (tmp_path / "sectors.csv").stat().st_size < (tmp_path / "none.csv").stat().st_size / 5


def test_bad_rows_are_named_by_line_and_column_and_refused_unless_allowed(tmp_path: Path) -> None:
    rows = [*NSPL_ROWS[:3], ("NOT A PC", "E99999999", "E06000056"), ("MK45 3AB", "E99999999", "bogus"),
            NSPL_ROWS[3]]
    directory = _write(tmp_path / "nspl.csv", _nspl(rows, extra='"MK45 3AD","MK45 3AD"\n'))
    out = _write(tmp_path / "postcode_las.csv", "postcode,la\nMK45,823\n")  # the table in use
    with pytest.raises(ImportRefused) as refused:
        import_directory(directory, out)
    message = str(refused.value)
    assert "3 bad rows" in message
    assert "line 5: column pcds: not a postcode" in message
    assert "line 6: column laua: not a GSS code" in message
    assert "line 8: column *: 2 fields where the header has 6" in message
    assert "NOT A PC" not in message and "bogus" not in message and "MK45 3AD" not in message
    assert out.read_text(encoding="utf-8") == "postcode,la\nMK45,823\n"  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nspl.csv", "postcode_las.csv"]
    report = import_directory(directory, out, max_bad=3)
    assert report.bad == 3 and report.units == 3
    assert PostcodeAreas.from_file(out).la_of("MK45 2AB") == "823"


@pytest.mark.parametrize(("text", "what"), [
    ('"pcds","laua"\n"MK45 2AB","E06000056"\n"LU5 4AA","E06000056"\n"MK45 2AD","E06000056"\n',
     "line 4: the directory is not in postcode order"),
    ('"postcode_unit","laua"\n"MK45 2AB","E06000056"\n', "no postcode column"),
    ('"pcds","county"\n"MK45 2AB","E06000056"\n', "no local authority district column"),
    ("", "empty"),
    ('"pcds","laua"\n"CF10 1AA","W06000015"\n', "no postcode in an English LA"),
    ('"pcds","laua"\n"MK45 2AB","E06000056"\n"MK45 2AD"x,"E06000056"\n', "line 3: not well-formed CSV"),
])
def test_a_directory_that_cannot_be_used_is_refused_whole(tmp_path: Path, text: str, what: str) -> None:
    out = _write(tmp_path / "postcode_las.csv", "postcode,la\nMK45,823\n")
    with pytest.raises(ImportRefused, match=what):
        import_directory(_write(tmp_path / "nspl.csv", text), out)
    assert out.read_text(encoding="utf-8") == "postcode,la\nMK45,823\n"
    assert len(list(tmp_path.iterdir())) == 2


def test_the_command(tmp_path: Path) -> None:
    runner = CliRunner()
    directory = _write(tmp_path / "nspl.csv", _nspl(NSPL_ROWS))
    out = tmp_path / "postcode_las.csv"
    done = runner.invoke(app, ["postcodes", "import", str(directory), "--out", str(out),
                               "--collapse", "sectors"])
    assert done.exit_code == 0, done.output
    assert "postcodes in an English LA: 7" in done.output and "Wales: 1" in done.output
    assert PostcodeAreas.from_file(out).la_of("SG5 4ZZ") == "919"  # sector SG5 4, collapsed
    bad = _write(tmp_path / "bad.csv", _nspl([("QQ QQQ", "E99999999", "E06000056")]))
    refused = runner.invoke(app, ["postcodes", "import", str(bad), "--out", str(out)])
    assert refused.exit_code == 2
    assert "nothing written" in refused.output and "line 2: column pcds: not a postcode" in refused.output
    assert "QQ QQQ" not in refused.output
    assert PostcodeAreas.from_file(out).la_of("SG5 4ZZ") == "919"  # the previous table stays


def test_a_bad_table_stops_the_nightly_run_before_it_starts(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """`childindex ingest run` with a table that cannot be read: a clear error naming the line
    (never the value), exit 2, and no run begun (none to be marked abandoned later)."""
    from sqlalchemy import func, select

    from index import models as m
    from index.store import open_store, transaction
    from ingest import run_nightly

    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = open_store(url, create=True)
    runner = CliRunner()
    cases = {"postcode,la\nMK45 2AB,823\nSECRET PC,823\n": "line 3",
             "postcode,la\nMK45 2AB,823\nMK45 2AB,822\n": "listed twice"}
    for text, said in cases.items():
        monkeypatch.setenv("CHILDINDEX_POSTCODE_LAS", str(_write(tmp_path / "las.csv", text)))
        refused = runner.invoke(app, ["ingest", "run", "--db", url])
        assert refused.exit_code == 2 and said in refused.output, refused.output
        assert "CHILDINDEX_POSTCODE_LAS" in refused.output and "SECRET" not in refused.output
        with pytest.raises(ValueError, match=said):
            run_nightly(engine)
    monkeypatch.setenv("CHILDINDEX_POSTCODE_LAS", str(tmp_path / "missing.csv"))
    missing = runner.invoke(app, ["ingest", "run", "--db", url])
    assert missing.exit_code == 2 and "cannot read missing.csv" in missing.output
    with transaction(engine) as session:
        assert session.scalar(select(func.count()).select_from(m.IngestRun)) == 0
    good = _write(tmp_path / "las.csv", "postcode,la\nMK45,823\n")
    monkeypatch.setenv("CHILDINDEX_POSTCODE_LAS", str(good))
    assert runner.invoke(app, ["ingest", "run", "--db", url]).exit_code == 0
