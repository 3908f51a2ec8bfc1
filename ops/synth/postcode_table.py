"""The postcode-to-LA table of a synthetic area (index.ownership, `CHILDINDEX_POSTCODE_LAS`):
every postcode of the area's homes, given to the area's LA, as an extract of the ONS postcode
directory would give it. `write_area` writes it as `postcode_las.csv` beside the feeds; the demo
writes one for its area and a neighbouring LA's, so that a child who moves there is moved.

Synthetic postcodes are drawn within real districts (ops/data/places.csv), so two LAs sharing a
district could draw the same postcode: such a postcode is left out of a table (it decides
nothing), never given to either.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from ops.noise import NoiseRates
from ops.synth.model import Chunk
from ops.synth.names import name_tables
from ops.synth.neighbourhood import CHUNK_CHILDREN, DEFAULT_ACADEMIC_YEAR, build_chunk, chunk_quotas

TABLE_NAME = "postcode_las.csv"


def chunk_postcodes(chunk: Chunk) -> set[str]:
    """The postcodes of a neighbourhood's homes: each family's, before and after a move, and
    those of carers living apart."""
    found: set[str] = set()
    for child in chunk.children:
        family = child.family
        for address in (family.address, family.old_address, *(c.address for c in family.carers)):
            if address is not None:
                found.add(address.postcode)
    return found


def area_postcodes(children: int, la: str, seed: int, noise: NoiseRates | None = None, *,
                   year: int = DEFAULT_ACADEMIC_YEAR, chunk_children: int = CHUNK_CHILDREN) -> set[str]:
    """Every postcode of the homes of the area `write_area` writes with the same arguments."""
    found: set[str] = set()
    for index, quota in chunk_quotas(children, chunk_children):
        found |= chunk_postcodes(build_chunk(index, quota, la, seed, year=year, noise=noise,
                                             chunk_children=chunk_children))
    return found


def neighbour_la(la: str) -> str:
    """Another LA of the synthetic places (ops/data/places.csv), the first listed: for the demo's
    Central Bedfordshire (823), Bedford (822)."""
    return next(other for other in name_tables().places if other not in ("*", la))


def table_rows(by_la: Mapping[str, Iterable[str]]) -> Iterator[tuple[str, str]]:
    """(postcode, LA) sorted by postcode; a postcode claimed by two LAs is left out."""
    owners: dict[str, set[str]] = {}
    for la, postcodes in by_la.items():
        for postcode in postcodes:
            owners.setdefault(postcode, set()).add(la)
    for postcode in sorted(owners):
        if len(owners[postcode]) == 1:
            yield postcode, next(iter(owners[postcode]))


def write_postcode_table(path: Path, by_la: Mapping[str, Iterable[str]], *, note: str) -> int:
    """Write the table (atomically: beside it, then renamed); the rows written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    rows = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(f"# synthetic: {note}\npostcode,la\n")
            for postcode, la in table_rows(by_la):
                out.write(f"{postcode},{la}\n")
                rows += 1
        os.chmod(name, 0o644)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return rows
