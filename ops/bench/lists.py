"""`childindex bench match --lists`: the list commands (`childindex link`) on lists with the
faults real lists from other services and from abroad carry.

From one synthetic area (`ops.synth`, one seed): the *right* list is the area's true children
(one in `HOLD_OUT` left out, whose rows must not link), the *left* list one row per child as a
service feed reports it (typos, short forms, moves, twins and siblings as the area has them),
with list faults on top (`ops.noise.ListFaults`: dates that are not dates, garbled or foreign
postcodes, blank dates). Neither list carries identifiers: lists from other services and from
abroad seldom hold a UPN, so names, dates and addresses carry the whole weight.

Both are written as CSV and read by the same reader as `childindex link` (so rows dropped are
counted where the user would lose them), linked one-to-one, and every link checked against the
truth. With Splink installed (the `bench` extra, never a dependency of the service), Splink
links the same two files with its own comparisons, trained on them, for comparison.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from index import ChildRecord
from index.vocabulary import AddressStatus
from matching import MatchModel, Outcome
from matching.linkage import link_lists
from ops.bench.accuracy import LinkAccuracy
from ops.noise import ListFaults, foreign_postcode, garbled_postcode, invalid_date

LA = "823"
HOLD_OUT = 20
COLUMNS = ("id", "given_name", "middle_names", "family_name", "date_of_birth", "sex", "postcode",
           "address", "town")


def _row(ref: str, record: ChildRecord) -> dict[str, str]:
    name = record.current_name
    home = next((a for a in record.addresses if a.status is AddressStatus.CURRENT),
                record.addresses[0] if record.addresses else None)
    lines = [home.line1, home.line2, home.line3] if home else []
    return {"id": ref, "given_name": name.given_name or "", "middle_names": name.middle_names or "",
            "family_name": name.family_name or "", "date_of_birth": record.date_of_birth.isoformat(),
            "sex": {"female": "F", "male": "M"}.get(record.gender.value, ""),
            "postcode": (home.postcode or "") if home else "",
            "address": " ".join(x for x in lines if x), "town": (home.town or "") if home else ""}


def _fault(row: dict[str, str], faults: ListFaults, rng: random.Random, counts: dict[str, int]) -> None:
    roll = rng.random()
    born = row["date_of_birth"]
    if roll < faults.invalid_date_rate:
        row["date_of_birth"] = invalid_date(dt.date.fromisoformat(born), rng)
        counts["invalid date"] += 1
    elif roll < faults.invalid_date_rate + faults.missing_date_rate:
        row["date_of_birth"] = ""
        counts["missing date"] += 1
    if rng.random() < faults.bad_postcode_rate and row["postcode"]:
        if rng.random() < 0.5:
            row["postcode"] = foreign_postcode(rng)
            counts["foreign postcode"] += 1
        else:
            row["postcode"] = garbled_postcode(row["postcode"], rng)
            counts["garbled postcode"] += 1


@dataclass
class Lists:
    left: Path
    right: Path
    truth: dict[str, int]  # left row id -> its true child
    in_right: set[int]
    faults: dict[str, int]


def write_lists(children: int, seed: int, folder: Path, faults: ListFaults) -> Lists:
    from ops.synth import iter_noisy_records, iter_true_children

    rng = random.Random(seed * 7919 + 15)
    folder.mkdir(parents=True, exist_ok=True)
    right, left = folder / "index.csv", folder / "service_list.csv"
    in_right: set[int] = set()
    with right.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, COLUMNS)
        writer.writeheader()
        for child_id, record in iter_true_children(children, LA, seed):
            if child_id % HOLD_OUT:
                in_right.add(child_id)
                writer.writerow(_row(f"c{child_id}", record))
    truth: dict[str, int] = {}
    counts = {"invalid date": 0, "missing date": 0, "foreign postcode": 0, "garbled postcode": 0}
    with left.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, COLUMNS)
        writer.writeheader()
        for source_file, _ref, child_id, record in iter_noisy_records(children, LA, seed):
            if not source_file.startswith("feeds/") or f"r{child_id}" in truth:
                continue
            ref = f"r{child_id}"
            truth[ref] = child_id
            row = _row(ref, record)
            _fault(row, faults, rng, counts)
            writer.writerow(row)
    return Lists(left, right, truth, in_right, counts)


@dataclass
class Scored(LinkAccuracy):
    rows: int
    used: int
    links: int
    correct_links: int
    reviews: int
    linkable: int
    seconds: float

    def line(self, who: str) -> str:
        return (f"{who}: rows {self.rows:,}, used {self.used:,} (dropped {self.rows - self.used}); "
                f"precision {self.precision:.4f} recall {self.recall:.4f} F1 {self.f1:.4f}; "
                f"links {self.links:,}, review {self.reviews:,} ({self.reviews / max(self.rows, 1):.2%}); "
                f"{self.seconds:.1f} s")


def _score(lists: Lists, pairs: Iterable[tuple[str, str, bool]], used: int, seconds: float) -> Scored:
    links = correct = reviews = 0
    for left, right, is_link in pairs:
        if not is_link:
            reviews += 1
            continue
        links += 1
        correct += f"c{lists.truth.get(left)}" == right
    linkable = sum(child in lists.in_right for child in lists.truth.values())
    return Scored(len(lists.truth), used, links, correct, reviews, linkable, seconds)


def ours(lists: Lists, model: MatchModel) -> tuple[Scored, list[str]]:
    from ops.lists import describe_warnings, read_list

    started = time.process_time()
    left, right = read_list(lists.left), read_list(lists.right)
    pairs = link_lists(left.people, right.people, model)
    seconds = time.process_time() - started
    scored = _score(lists, ((str(p.left), str(p.right), p.outcome is Outcome.LINK) for p in pairs),
                    len(left.people), seconds)
    return scored, describe_warnings(left)


def splink(lists: Lists, link: float, review: float) -> Scored | str:
    """Splink on the same files, or why it could not run (not installed: the `bench` extra)."""
    try:
        import pyarrow as pa
        import splink.comparison_library as cl
        from pyarrow import csv as pa_csv
        from splink import DuckDBAPI, Linker, SettingsCreator, block_on
    except ImportError as exc:
        return f"Splink not run: {exc.name} is not installed (pip install '.[bench]')"
    logging.getLogger("splink").setLevel(logging.WARNING)
    started = time.process_time()
    options = pa_csv.ConvertOptions(column_types={c: pa.string() for c in COLUMNS}, strings_can_be_null=True)
    frames = [pa_csv.read_csv(path, convert_options=options).rename_columns(["unique_id", *COLUMNS[1:]])
              for path in (lists.left, lists.right)]
    settings = SettingsCreator(
        link_type="link_only",
        comparisons=[
            cl.NameComparison("given_name"),
            cl.NameComparison("family_name"),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True),
            cl.ExactMatch("sex"),
            cl.PostcodeComparison("postcode"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("family_name", "date_of_birth"), block_on("given_name", "date_of_birth"),
            block_on("postcode", "family_name"), block_on("postcode", "given_name"),
            block_on("given_name", "family_name"),
        ],
        retain_intermediate_calculation_columns=False,
    )
    try:
        linker = Linker(frames, settings, db_api=DuckDBAPI())  # Splink 4
    except TypeError:  # Splink 5: tables are registered with the database first
        db = DuckDBAPI()
        linker = Linker([db.register(f, dataset_display_name=n) for f, n in zip(frames, ("left", "right"),
                                                                                strict=True)], settings)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("given_name", "family_name", "date_of_birth")], recall=0.8)
    linker.training.estimate_u_using_random_sampling(max_pairs=1_000_000)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("postcode"))
    predictions = linker.inference.predict(threshold_match_probability=review).as_record_dict()
    # One-to-one, best first, as `childindex link` does.
    predictions.sort(key=lambda r: -r["match_probability"])
    used_l: set[str] = set()
    used_r: set[str] = set()
    pairs = []
    for row in predictions:
        left, right = ((row["unique_id_l"], row["unique_id_r"]) if str(row["unique_id_l"]).startswith("r")
                       else (row["unique_id_r"], row["unique_id_l"]))
        if left in used_l or right in used_r:
            continue
        used_l.add(left)
        used_r.add(right)
        pairs.append((left, right, row["match_probability"] >= link))
    return _score(lists, pairs, len(frames[0]), time.process_time() - started)


def run(children: int, seed: int, folder: Path, model: MatchModel) -> list[str]:
    faults = ListFaults()
    lists = write_lists(children, seed, folder, faults)
    lines = [f"lists: {children:,} children of seed {seed} (1 in {HOLD_OUT} left out of the index "
             f"list), a service's list of {len(lists.truth):,} rows with "
             + ", ".join(f"{k} {v}" for k, v in lists.faults.items())
             + f" (rates: {faults.invalid_date_rate:.0%} invalid dates, {faults.bad_postcode_rate:.0%} "
             f"garbled or foreign postcodes, {faults.missing_date_rate:.0%} missing dates); "
             f"no identifiers; files in {folder}"]
    scored, warnings = ours(lists, model)
    lines.append(scored.line("childindex link"))
    lines += [f"  warned: {w}" for w in warnings]
    t = model.thresholds
    other = splink(lists, t.link, t.review)
    lines.append(other if isinstance(other, str) else other.line(
        f"Splink (same files, trained on them, link >= {t.link}, review >= {t.review})"))
    return lines
