"""`childindex link` and `dedupe` on lists as spreadsheets save them: the same pairs as the clean
lists, and a clear word on what cannot be read."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import messy_files as messy
import pytest
from test_matching_lists import LEFT, RIGHT
from typer.testing import CliRunner

from ops.cli import app
from ops.lists import read_list

VARIANTS: dict[str, Callable[[list[list[str]]], bytes]] = {
    "clean": lambda rows: messy.csv_text(rows).encode(),
    "byte-order mark, CRLF": lambda rows: messy.bom_crlf(messy.csv_text(rows).encode()),
    "header as people type it": lambda rows: messy.csv_text(messy.excel_header(rows)).encode(),
    "empty columns at the right": lambda rows: messy.csv_text(messy.trailing_blank_columns(rows)).encode(),
    "semicolons": messy.semicolons,
    "Excel's Unicode text (UTF-16, tabs)": messy.unicode_text,
}


def _link(tmp_path: Path, variant: str) -> tuple[str, str]:
    paths = []
    for name, text in (("left.csv", LEFT), ("right.csv", RIGHT)):
        path = tmp_path / f"{variant}-{name}"
        path.write_bytes(VARIANTS[variant](messy.csv_rows(text)))
        paths.append(str(path))
    out = tmp_path / f"{variant}-pairs.csv"
    result = CliRunner().invoke(app, ["link", *paths, "--out", str(out)])
    assert result.exit_code == 0, result.output
    output = result.output.replace(f"{tmp_path}/{variant}-", "")  # the files' names, as printed
    return out.read_text(encoding="utf-8"), output


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v != "clean"])
def test_lists_saved_by_spreadsheets_link_the_same(tmp_path: Path, variant: str) -> None:
    clean_pairs, clean_output = _link(tmp_path, "clean")
    assert clean_pairs.count("\n") > 2
    pairs, output = _link(tmp_path, variant)
    assert (pairs, output) == (clean_pairs, clean_output)


def test_no_value_cells_and_day_first_dates(tmp_path: Path) -> None:
    header = "ID,Given Name,Family Name,Date of Birth,Sex,Postcode"
    typed = tmp_path / "typed.csv"
    typed.write_text(f"{header}\n1,Amara,Okafor,10/02/2014,Female,N/A\n2,Amara,Okafor,#N/A,F,null\n",
                     encoding="utf-8")
    read = read_list(typed)
    assert read.problems == [] and not read.warnings  # nothing "compared as free text"
    first, second = read.people
    assert (first.dob, first.postcode, second.dob, second.postcode) == (
        read_list(_documented(tmp_path)).people[0].dob, None, None, None)


def _documented(tmp_path: Path) -> Path:
    path = tmp_path / "documented.csv"
    path.write_text("id,given_name,family_name,date_of_birth\n1,Amara,Okafor,2014-02-10\n", encoding="utf-8")
    return path


def test_a_windows_1252_row_says_how_to_save_the_list(tmp_path: Path) -> None:
    path = tmp_path / "ansi.csv"
    path.write_bytes("id,given_name,family_name\n1,Siân,Okafor\n2,Amara,Okafor\n".encode("cp1252"))
    read = read_list(path)
    assert read.problems == ["line 2: is not valid UTF-8 (save the list as CSV UTF-8)"]
    assert [p.ref for p in read.people] == ["2"]


def test_a_list_without_a_header_is_refused_without_echoing_its_first_row(tmp_path: Path) -> None:
    path = tmp_path / "noheader.csv"
    path.write_text("1,Amara,O'Brien,2014-02-10,F,MK45 2AB\n2,Lena,Nowak,2013-03-05,M,MK45 2AB\n",
                    encoding="utf-8")
    result = CliRunner().invoke(app, ["dedupe", str(path), "--out", str(tmp_path / "out.csv")])
    assert result.exit_code == 2 and "has no header line" in result.output
    assert not any(value in result.output.lower() for value in ("amara", "o'brien", "2014", "mk45"))
