"""`childindex link` and `childindex dedupe`: matching for people with their own lists.

Input is CSV with a header naming any subset of `matching.ROW_COLUMNS` (as spreadsheets save
it: `ingest.spreadsheets`); a column not in that list rejects the file by name (it may hold
data the index must never take in). Every row with a name or a trusted identifier is used: a
value that cannot be used as what it claims (a date that is not a date, a postcode that is not
a UK one, an identifier whose check fails) is compared as text or left out and counted by field
and reason (`matching.ROW_WARNINGS`), never printed row by row. Only a row that cannot be read
at all (wrong number of fields, not UTF-8, no id, a repeated id, neither name nor identifier)
is skipped, reported by line number and reason (never its values); the run completes and says
how many rows it used.
"""

from __future__ import annotations

import csv
import gc
import itertools
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer

from ingest.spreadsheets import cell_text, fit_row, header_names, iso_date, sniff_delimiter, text_lines
from matching import (
    ROW_COLUMNS,
    ROW_WARNINGS,
    MatchModel,
    Person,
    Thresholds,
    UnscorableRecord,
    person_from_row,
)
from matching.estimate import estimate_model
from matching.linkage import clusters, dedupe_pairs, link_lists

# Cells longer than this are refused before any parsing (a broken file, not a name).
MAX_CELL = 1000
csv.field_size_limit(MAX_CELL * 10)


class ListError(ValueError):
    """The file as a whole cannot be used; the message names the file and why."""


@dataclass
class ReadList:
    people: list[Person] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # "line N: reason": rows skipped
    warnings: Counter[tuple[str, str]] = field(default_factory=Counter)  # (field, reason): rows


def read_list(path: Path) -> ReadList:
    """The scorable rows of a list, with a line-numbered reason for every row left out."""
    result = ReadList()
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise ListError(f"{path}: cannot be read ({exc.strerror})") from None
    with handle:
        # As spreadsheets save lists (ingest.spreadsheets): UTF-8 or UTF-16, commas, semicolons
        # or tabs, header names in any case with spaces, empty columns at the right.
        lines = text_lines(handle, errors="surrogateescape")
        first = next(lines, None)
        if first is None:
            raise ListError(f"{path}: is empty (no header line)")
        reader = csv.reader(itertools.chain([first], lines),
                            delimiter=sniff_delimiter(first, ROW_COLUMNS))
        try:
            header = header_names(next(reader))
        except csv.Error as exc:
            raise ListError(f"{path}: header line is not CSV ({exc})") from None
        unknown = [h for h in header if h not in ROW_COLUMNS]
        if len(unknown) == len(header):
            # Not a header (a list saved without one): its cells are someone's details, never
            # repeated in an error.
            raise ListError(f"{path}: has no header line: its first line names none of the columns "
                            f"{', '.join(ROW_COLUMNS)}")
        if unknown:
            raise ListError(
                f"{path}: unknown column(s) {', '.join(repr(h[:40]) for h in unknown)}; "
                f"allowed: {', '.join(ROW_COLUMNS)}"
            )
        if len(set(header)) != len(header):
            raise ListError(f"{path}: a column name repeats in the header")
        seen: set[str] = set()
        for line, cells in _rows(reader, result):
            if not any(c.strip() for c in cells):
                continue  # blank line
            ref = _check_row(line, cells, header, seen, result)
            if ref is None:
                continue
            row = {name: cell_text(cell) for name, cell in zip(header, cells, strict=False)}
            if row.get("date_of_birth"):
                row["date_of_birth"] = iso_date(row["date_of_birth"])
            try:
                result.people.append(person_from_row(ref, row, result.warnings))
            except UnscorableRecord as exc:
                result.problems.append(f"line {line}: {exc}")
            else:
                seen.add(ref)
    return result


def _rows(reader: Iterator[list[str]], result: ReadList) -> Iterator[tuple[int, list[str]]]:
    line = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            result.problems.append(f"line {line + 1}: not valid CSV ({exc})")
            return
        line = reader.line_num  # type: ignore[attr-defined]
        yield line, cells


def _check_row(
    line: int, cells: list[str], header: list[str], seen: set[str], result: ReadList
) -> str | None:
    if fit_row(cells, len(header)) is None:
        result.problems.append(f"line {line}: has {len(cells)} fields, the header has {len(header)}")
        return None
    if any(len(c) > MAX_CELL for c in cells):
        result.problems.append(f"line {line}: a field is longer than {MAX_CELL} characters")
        return None
    try:
        for cell in cells:
            cell.encode("utf-8")
    except UnicodeEncodeError:
        result.problems.append(f"line {line}: is not valid UTF-8 (save the list as CSV UTF-8)")
        return None
    ref = cells[header.index("id")].strip() if "id" in header else str(line)
    if not ref:
        result.problems.append(f"line {line}: id is empty")
        return None
    if ref in seen:
        result.problems.append(f"line {line}: id repeats an earlier row's id")
        return None
    return ref


def describe_warnings(read: ReadList) -> list[str]:
    """One line per field and reason: how many rows, and what was done with the value."""
    return [f"{count} rows: {name} {reason}, {ROW_WARNINGS.get((name, reason), 'left out')}"
            for (name, reason), count in sorted(read.warnings.items())]


def _report(path: Path, read: ReadList) -> None:
    for problem in read.problems:
        typer.echo(f"{path}: {problem}", err=True)
    for line in describe_warnings(read):
        typer.echo(f"{path}: {line}", err=True)
    typer.echo(f"{path}: {len(read.people)} rows used, {len(read.problems)} rows skipped", err=True)


def _model(model_path: Path | None, link: float | None, review: float | None) -> MatchModel:
    model = MatchModel.load(model_path) if model_path else MatchModel.load()
    if link is not None or review is not None:
        t = model.thresholds
        try:
            thresholds = Thresholds(
                link=link if link is not None else t.link,
                review=review if review is not None else t.review,
                shield_review=min(t.shield_review, review if review is not None else t.review),
                margin=t.margin, conflict=t.conflict, tf_cap=t.tf_cap,
            )
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        model = model.with_thresholds(thresholds)
    return model


def _read_or_exit(path: Path) -> ReadList:
    """The list, or exit 2 with the error. The people read live until the command ends, so the
    commands then keep them out of garbage collection (`gc.freeze`): full collections would walk
    every one of them again and again (with a 1,000,000-child index in `bench match`, a sixth
    of the matching time)."""
    try:
        read = read_list(path)
    except ListError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2) from None
    _report(path, read)
    return read


ModelOption = Annotated[Path | None, typer.Option("--model", help="Model JSON (default: stored model).")]
LinkOption = Annotated[float | None, typer.Option("--link", help="Link threshold (probability).")]
ReviewOption = Annotated[float | None, typer.Option("--review", help="Review threshold (probability).")]
EstimateOption = Annotated[
    bool, typer.Option("--estimate", help="Estimate m and u from these lists instead of the stored model.")
]


def link_command(
    left: Annotated[Path, typer.Argument(help="CSV list to link from.")],
    right: Annotated[Path, typer.Argument(help="CSV list to link to.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write pairs.csv.")],
    model_path: ModelOption = None,
    link: LinkOption = None,
    review: ReviewOption = None,
    estimate: EstimateOption = False,
) -> None:
    """Link two lists one-to-one: pairs.csv has left_id,right_id,score,decision."""
    model = _model(model_path, link, review)
    lefts, rights = _read_or_exit(left), _read_or_exit(right)
    if estimate and len(rights.people) >= 2 and lefts.people:
        model = estimate_model(rights.people, lefts.people, start=model, u_pairs=50_000)
    gc.freeze()  # see _read_or_exit
    pairs = link_lists(lefts.people, rights.people, model)
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["left_id", "right_id", "score", "decision"])
        for pair in pairs:
            writer.writerow([pair.left, pair.right, f"{pair.probability:.6f}", pair.outcome.value])
    linked = sum(p.outcome.value == "link" for p in pairs)
    typer.echo(f"{linked} links and {len(pairs) - linked} pairs for review written to {out}")


def dedupe_command(
    file: Annotated[Path, typer.Argument(help="CSV list to de-duplicate.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write clusters.csv.")],
    pairs_out: Annotated[
        Path | None, typer.Option("--pairs", help="Also write the scored pairs (for review).")
    ] = None,
    model_path: ModelOption = None,
    link: LinkOption = None,
    review: ReviewOption = None,
    estimate: EstimateOption = False,
) -> None:
    """Find records of the same person in one list: clusters.csv has id,cluster_id."""
    model = _model(model_path, link, review)
    read = _read_or_exit(file)
    if estimate and len(read.people) >= 2:
        model = estimate_model(read.people, read.people, start=model, u_pairs=50_000)
    gc.freeze()  # see _read_or_exit
    pairs = dedupe_pairs(read.people, model)
    numbers = clusters(read.people, pairs)
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "cluster_id"])
        writer.writerows((ref, number) for ref, number in numbers.items())
    if pairs_out:
        with pairs_out.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["left_id", "right_id", "score", "decision"])
            for pair in pairs:
                writer.writerow([pair.left, pair.right, f"{pair.probability:.6f}", pair.outcome.value])
    groups = len(set(numbers.values()))
    typer.echo(f"{len(numbers)} records in {groups} clusters written to {out}")
