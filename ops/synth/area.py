"""A whole area: the chunks written to census/, ctf/ and feeds/ with truth.csv (in parallel
processes, byte-identical whatever their number), iterators over its children and records, and
the `childindex synth` command."""

from __future__ import annotations

import datetime as dt
import io
import multiprocessing
import os
import random
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from index.records import ChildRecord
from ops.noise import NoiseRates
from ops.synth.decoration import Decorator
from ops.synth.feeds import render
from ops.synth.model import (
    Calendar,
    SourceRecord,
)
from ops.synth.neighbourhood import (
    CHUNK_CHILDREN,
    DEFAULT_ACADEMIC_YEAR,
    build_chunk,
    check_la,
    chunk_quotas,
)
from ops.synth.postcode_table import TABLE_NAME, chunk_postcodes, write_postcode_table
from ops.synth.records import noisy_record, true_record
from ops.synth.sources import source_files


@dataclass(frozen=True)
class AreaSummary:
    children: int
    chunks: int
    census_files: int
    ctf_files: int
    feed_files: int
    records: int
    bytes_written: int
    seconds: float

    @property
    def files(self) -> int:
        return self.census_files + self.ctf_files + self.feed_files


def iter_true_children(children: int, la: str, seed: int, noise: NoiseRates | None = None, *,
                       year: int = DEFAULT_ACADEMIC_YEAR, validate: bool = False,
                       chunk_children: int = CHUNK_CHILDREN,
                       ) -> Iterator[tuple[int, ChildRecord]]:
    """(true child id, the child's true ChildRecord) for every child of the area, streaming.

    The same children as `write_area` with the same arguments (its noise rates decide who moves,
    changes surname or school, so pass the same ones)."""
    check_la(la)
    for index, quota in chunk_quotas(children, chunk_children):
        chunk = build_chunk(index, quota, la, seed, year=year, noise=noise,
                            chunk_children=chunk_children)
        for child in chunk.children:
            yield child.id, true_record(child, la, validate=validate)


def iter_source_records(children: int, la: str, seed: int, noise: NoiseRates | None = None, *,
                        year: int = DEFAULT_ACADEMIC_YEAR, chunk_children: int = CHUNK_CHILDREN,
                        ) -> Iterator[SourceRecord]:
    """Every source record of the area with its noise flags and its true child."""
    noise = noise or NoiseRates()
    for index, quota in chunk_quotas(children, chunk_children):
        chunk = build_chunk(index, quota, la, seed, year=year, noise=noise,
                            chunk_children=chunk_children)
        for file in source_files(chunk, noise, seed):
            yield from file.records


def iter_noisy_records(children: int, la: str, seed: int, noise: NoiseRates | None = None, *,
                       year: int = DEFAULT_ACADEMIC_YEAR, validate: bool = False,
                       chunk_children: int = CHUNK_CHILDREN,
                       ) -> Iterator[tuple[str, str, int, ChildRecord]]:
    """(source_file, record_ref, true_child_id, ChildRecord as the feed reports it): the same
    records `write_area` writes, without the XML."""
    check_la(la)
    for rec in iter_source_records(children, la, seed, noise, year=year,
                                   chunk_children=chunk_children):
        yield rec.source_file, rec.record_ref, rec.child.id, noisy_record(rec, la, validate=validate)


_OUTPUTS = ("census", "ctf", "feeds", "truth.csv", TABLE_NAME)


@dataclass(frozen=True)
class _ChunkJob:
    out: Path
    index: int
    quota: int
    la: str
    seed: int
    year: int
    noise: NoiseRates
    chunk_children: int


@dataclass(frozen=True)
class _ChunkDone:
    truth: str
    counts: dict[str, int]
    records: int
    written: int
    postcodes: frozenset[str]


def _write_chunk(job: _ChunkJob) -> _ChunkDone:
    """Write one chunk's files; its truth rows come back to be written in chunk order."""
    chunk = build_chunk(job.index, job.quota, job.la, job.seed, year=job.year, noise=job.noise,
                        chunk_children=job.chunk_children)
    deco = Decorator(random.Random(f"childindex-synth/{job.seed}/{job.la}/{job.index}/files"),
                      chunk.calendar)
    counts = {"census": 0, "ctf": 0, "feed": 0}
    lines: list[str] = []
    records = written = 0
    for file in source_files(chunk, job.noise, job.seed):
        data = render(file, chunk, deco).encode("utf-8")
        (job.out / file.path).write_bytes(data)
        written += len(data)
        counts[file.kind] += 1
        records += len(file.records)
        lines.extend(f"{r.source_file},{r.record_ref},{r.child.id}\n" for r in file.records)
    return _ChunkDone("".join(lines), counts, records, written, frozenset(chunk_postcodes(chunk)))


def write_area(out: Path, children: int, la: str, seed: int, noise: NoiseRates | None = None, *,
               year: int = DEFAULT_ACADEMIC_YEAR, replace: bool = False,
               chunk_children: int = CHUNK_CHILDREN, workers: int = 1) -> AreaSummary:
    """Write the area's feeds and truth.csv under `out` (which must not already hold an area
    unless `replace`, which removes only what an earlier run wrote).

    `workers` > 1 writes chunks in that many processes; the output is the same byte for byte,
    since every chunk depends only on its own seed and truth rows are written in chunk order.
    """
    check_la(la)
    noise = noise or NoiseRates()
    started = time.perf_counter()
    out = Path(out)
    jobs = [_ChunkJob(out, index, quota, la, seed, year, noise, chunk_children)
            for index, quota in chunk_quotas(children, chunk_children)]
    existing = [out / name for name in _OUTPUTS if (out / name).exists()]
    if existing and not replace:
        raise FileExistsError(f"{out} already holds a synthetic area (use replace)")
    for path in existing:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    for sub in ("census", "ctf", "feeds"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    counts = {"census": 0, "ctf": 0, "feed": 0}
    records = written = 0
    with (out / "truth.csv").open("w", encoding="utf-8", newline="") as truth:
        truth.write("source_file,record_ref,true_child_id\n")
        if workers > 1 and len(jobs) > 1:
            # fork where there is one: workers start at once, with the tables already loaded.
            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
            with context.Pool(min(workers, len(jobs))) as pool:
                results = pool.imap(_write_chunk, jobs)
                done = list(_consume(results, truth))
        else:
            done = list(_consume(map(_write_chunk, jobs), truth))
    postcodes: set[str] = set()
    for result in done:
        for kind, count in result.counts.items():
            counts[kind] += count
        records += result.records
        written += result.written
        postcodes |= result.postcodes
    # The area's postcodes, each in the area's LA: CHILDINDEX_POSTCODE_LAS for the nightly run.
    write_postcode_table(out / TABLE_NAME, {la: postcodes},
                         note=f"the homes of synthetic LA {la}'s area (seed {seed})")
    return AreaSummary(children, len(jobs), counts["census"], counts["ctf"], counts["feed"],
                       records, written, time.perf_counter() - started)


def _consume(results: Iterator[_ChunkDone], truth: io.TextIOBase) -> Iterator[_ChunkDone]:
    for result in results:
        truth.write(result.truth)
        # Keep the counts, drop the (large) truth text: memory stays bounded.
        yield _ChunkDone("", result.counts, result.records, result.written, result.postcodes)


_DEFAULTS = NoiseRates()


def _rate(flag: str, help_text: str) -> object:
    return typer.Option(flag, min=0.0, max=1.0, help=help_text)


def command(
    out: Annotated[Path, typer.Option("--out", help="Directory to write the area into.")],
    children: Annotated[int, typer.Option("--children", min=1, help="Number of children.")] = 1000,
    la: Annotated[str, typer.Option("--la", help="Three-digit LA number.")] = "823",
    seed: Annotated[int, typer.Option("--seed", help="Random seed: same seed, same files.")] = 1,
    year: Annotated[int, typer.Option("--year", help="Academic year (starting September).")] =
        DEFAULT_ACADEMIC_YEAR,
    replace: Annotated[bool, typer.Option("--replace", help="Replace an area already in --out.")]
        = False,
    workers: Annotated[int, typer.Option("--workers", min=1,
                                         help="Processes writing chunks (output is identical).")]
        = min(2, os.cpu_count() or 1),
    typo_rate: Annotated[float, _rate("--typo-rate", "Records with a typo in a name.")]
        = _DEFAULTS.typo_rate,
    short_form_rate: Annotated[float, _rate("--short-form-rate", "Records with a short given name.")]
        = _DEFAULTS.short_form_rate,
    swap_dob_rate: Annotated[float, _rate("--swap-dob-rate", "Records with day and month swapped.")]
        = _DEFAULTS.swap_dob_rate,
    dob_typo_rate: Annotated[float, _rate("--dob-typo-rate", "Records with one DOB digit wrong.")]
        = _DEFAULTS.dob_typo_rate,
    move_rate: Annotated[float, _rate("--move-rate", "Families moving house between terms.")]
        = _DEFAULTS.move_rate,
    surname_change_rate: Annotated[float, _rate("--surname-change-rate",
                                                "Children changing surname between terms.")]
        = _DEFAULTS.surname_change_rate,
    missing_upn_rate: Annotated[float, _rate("--missing-upn-rate", "Records missing the UPN.")]
        = _DEFAULTS.missing_upn_rate,
    missing_nhs_rate: Annotated[float, _rate("--missing-nhs-rate", "Records missing the NHS number.")]
        = _DEFAULTS.missing_nhs_rate,
    transfer_rate: Annotated[float, _rate("--transfer-rate", "Pupils changing school (with a CTF).")]
        = _DEFAULTS.transfer_rate,
    invalid_id_rate: Annotated[float, _rate("--invalid-id-rate", "Identifiers written invalid.")]
        = _DEFAULTS.invalid_id_rate,
    format_rate: Annotated[float, _rate("--format-rate",
                                        "Names formatted differently (accents, hyphens, case).")]
        = _DEFAULTS.format_rate,
) -> None:
    """Write a realistic, deterministic synthetic area for one LA, with truth.csv."""
    noise = NoiseRates(
        typo_rate=typo_rate, short_form_rate=short_form_rate, swap_dob_rate=swap_dob_rate,
        dob_typo_rate=dob_typo_rate, move_rate=move_rate, surname_change_rate=surname_change_rate,
        missing_upn_rate=missing_upn_rate, missing_nhs_rate=missing_nhs_rate,
        transfer_rate=transfer_rate, invalid_id_rate=invalid_id_rate, format_rate=format_rate,
    )
    if Calendar(year).extract_date > dt.date.today():
        typer.secho("error: --year is too recent: its spring term has not happened yet",
                    err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2)
    try:
        summary = write_area(out, children, la, seed, noise, year=year, replace=replace,
                             workers=workers)
    except (ValueError, FileExistsError) as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2) from None
    typer.echo(
        f"wrote {summary.children} children for LA {la} to {out}: {summary.census_files} census, "
        f"{summary.ctf_files} CTF and {summary.feed_files} feed files, {summary.records} source "
        f"records, {summary.bytes_written / 1e6:.1f} MB in {summary.seconds:.1f} s"
    )
