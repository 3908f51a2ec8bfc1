"""`childindex bench match`: the matcher on synthetic areas with ground truth.

Two areas from `ops.synth` with different seeds keep choosing weights apart from measuring:
- training (seed `--train-seed`): u from random pairs of its true children, m by EM sessions
  over its noisy records (`matching.estimate_model`); no ground truth is used;
- evaluation (seed `--seed`): its true children form the index, except one in
  `HOLD_OUT` (whose records should come out *new*); its noisy records, as feeds report them, are
  linked one by one and each decision is checked against the record's true child.

Prints precision, recall and F1 of link decisions, the share sent to review, blocking recall,
records per second (normalising and deciding, one core) and memory, with the machine.
"""

from __future__ import annotations

import gc
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Annotated

import typer

from index import ChildRecord
from matching import (
    BlockingIndex,
    Matcher,
    MatchModel,
    Outcome,
    Person,
    TermFrequencies,
    UnscorableRecord,
    estimate_model,
    person_from_record,
)
from ops.bench.accuracy import LinkAccuracy
from ops.machine import describe_machine, peak_rss_mb

LA = "823"
# One child in this many is left out of the evaluation index: their records must not link.
HOLD_OUT = 20
# Index sizes (children in the area) at which resident memory is reported while building.
MEMORY_CHECKPOINTS = (100_000, 300_000)
# The seed the stored model (matching/data/default_model.json) was estimated and tuned on.
STORED_MODEL_SEED = 1

TrueChildren = Callable[[int, str, int], Iterable[tuple[int, ChildRecord]]]
NoisyRecords = Callable[[int, str, int], Iterable[tuple[str, str, int, ChildRecord]]]


def _synth() -> tuple[TrueChildren, NoisyRecords]:
    from ops.synth import iter_noisy_records, iter_true_children

    return iter_true_children, iter_noisy_records


@dataclass
class Figures(LinkAccuracy):
    records: int = 0
    unscorable: int = 0
    links: int = 0
    correct_links: int = 0
    linkable: int = 0  # records whose true child is in the index
    reviews: int = 0
    news: int = 0
    blocked_true: int = 0  # linkable records whose true child was among the candidates
    candidates: int = 0
    seconds: float = 0.0  # wall clock
    cpu_seconds: float = 0.0  # this process's CPU time (the machine is shared)
    rules: Counter[str] = field(default_factory=Counter)
    wrong: Counter[str] = field(default_factory=Counter)  # false links by rule

    def lines(self) -> list[str]:
        scored = self.records - self.unscorable
        return [
            f"records linked: {self.records:,} ({self.unscorable} unscorable), "
            f"{self.linkable:,} with their child in the index",
            f"precision {self.precision:.4f}  recall {self.recall:.4f}  F1 {self.f1:.4f}",
            f"outcomes: link {self.links:,}, review {self.reviews:,} "
            f"({self.reviews / max(scored, 1):.2%}), new {self.news:,}",
            f"blocking recall {self.blocked_true / max(self.linkable, 1):.4f}, "
            f"mean candidates {self.candidates / max(scored, 1):.2f}",
            f"speed: {self.records / self.cpu_seconds:,.0f} records per CPU second, "
            f"{self.records / self.seconds:,.0f} records/s wall clock "
            f"({self.cpu_seconds:.1f} s CPU, {self.seconds:.1f} s wall; normalise + block + score + "
            "decide, one process, one core)",
            "rules: " + ", ".join(f"{k} {v:,}" for k, v in self.rules.most_common()),
            "false links by rule: " + (", ".join(f"{k} {v}" for k, v in self.wrong.most_common()) or "none"),
        ]


def current_rss_mb() -> float:
    """Resident memory of this process now, in MB (Linux; 0 where unknown)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _people(
    true_children: Iterable[tuple[int, ChildRecord]], keep: Callable[[int], bool]
) -> Iterator[Person]:
    for child_id, record in true_children:
        if keep(child_id):
            yield person_from_record(child_id, record)


def train(children: int, seed: int, records: int, u_pairs: int) -> tuple[MatchModel, float]:
    true_children, noisy_records = _synth()
    started = time.perf_counter()
    reference = list(_people(true_children(children, LA, seed), lambda _c: True))
    incoming = []
    for source_file, ref, _true, record in islice(noisy_records(children, LA, seed), records):
        try:
            incoming.append(person_from_record(f"{source_file}#{ref}", record))
        except UnscorableRecord:
            continue
    model = estimate_model(reference, incoming, seed=seed, u_pairs=u_pairs)
    return model, time.perf_counter() - started


def evaluate(model: MatchModel, children: int, seed: int, records: int) -> tuple[Figures, dict[str, float]]:
    true_children, noisy_records = _synth()
    started = time.perf_counter()
    gc.collect()
    before = current_rss_mb()
    index = BlockingIndex()
    # Resident memory as the index grows, to show what a child costs at each size.
    checkpoints = sorted({size for size in MEMORY_CHECKPOINTS if size < children} | {children})
    growth: list[tuple[int, float]] = []
    for child_id, person in enumerate(_people(true_children(children, LA, seed),
                                              lambda c: c % HOLD_OUT != 0)):
        index.add(person)
        if checkpoints and child_id + 1 >= checkpoints[0] * (HOLD_OUT - 1) // HOLD_OUT:
            gc.collect()
            growth.append((len(index), current_rss_mb()))
            checkpoints.pop(0)
    gc.collect()
    if not growth or growth[-1][0] != len(index):
        growth.append((len(index), current_rss_mb()))
    memory = {"index_children": len(index), "index_build_s": time.perf_counter() - started,
              "rss_before_index_mb": before, "rss_after_index_mb": current_rss_mb(), "growth": growth}
    matcher = Matcher(index, model, TermFrequencies.from_people(index))
    # The index lives for the whole run: its millions of objects are kept out of the garbage
    # collector, whose full collections would otherwise walk them all again and again (at
    # 1,000,000 children: 20.6 s CPU for 100,000 records without this, 17.3 s with it).
    gc.freeze()
    figures = Figures()
    feed = islice(noisy_records(children, LA, seed), records)
    batch = 5_000
    while chunk := list(islice(feed, batch)):
        t0, c0 = time.perf_counter(), time.process_time()
        outcomes = []
        for source_file, ref, truth, record in chunk:
            try:
                person = person_from_record(f"{source_file}#{ref}", record)
            except UnscorableRecord:
                outcomes.append((truth, None, None))
                continue
            outcomes.append((truth, person, matcher.decide(person)))
        figures.seconds += time.perf_counter() - t0
        figures.cpu_seconds += time.process_time() - c0
        # Outside the timing: every blocking key, to measure what blocking can find at all.
        for truth, person, decision in outcomes:
            candidates = index.candidates(person) if person is not None else []
            _count(figures, truth, decision, candidates)
    memory["peak_rss_mb"] = peak_rss_mb()
    gc.unfreeze()
    return figures, memory


def _count(figures: Figures, truth: int, decision, candidates) -> None:  # type: ignore[no-untyped-def]
    figures.records += 1
    linkable = truth % HOLD_OUT != 0
    figures.linkable += linkable
    if decision is None:
        figures.unscorable += 1
        return
    figures.candidates += len(candidates)
    figures.blocked_true += linkable and any(c.ref == truth for c in candidates)
    figures.rules[decision.rule.value] += 1
    if decision.outcome is Outcome.LINK:
        figures.links += 1
        if decision.ref == truth:
            figures.correct_links += 1
        else:
            figures.wrong[decision.rule.value] += 1
    elif decision.outcome is Outcome.REVIEW:
        figures.reviews += 1
    else:
        figures.news += 1


def run(children: int, records: int, seed: int, train_seed: int, train_children: int,
        u_pairs: int, save_model: Path | None, use_stored: bool) -> str:
    if seed == train_seed:
        raise typer.BadParameter("--seed and --train-seed must differ: evaluation data is kept apart")
    lines = [f"machine: {describe_machine()}; load average at start {os.getloadavg()[0]:.1f}"]
    if use_stored:
        model = MatchModel.load()
        lines.append(f"model: stored defaults (matching/data/default_model.json: weights estimated and "
                     f"thresholds chosen on synthetic seed {STORED_MODEL_SEED}, never on the evaluation "
                     "seed)")
        if seed == STORED_MODEL_SEED:
            raise typer.BadParameter(f"the stored model was estimated on seed {STORED_MODEL_SEED}: "
                                     "evaluate on another seed")
    else:
        model, seconds = train(train_children, train_seed, records=min(records, 4 * train_children),
                               u_pairs=u_pairs)
        model = model.with_thresholds(MatchModel.load().thresholds)
        lines.append(f"model: estimated on seed {train_seed} ({train_children:,} children) "
                     f"in {seconds:.1f} s; prior {model.prior:.3f}")
        if save_model:
            model.save(save_model)
            lines.append(f"model saved to {save_model}")
    t = model.thresholds
    lines.append(f"thresholds: link {t.link}, review {t.review}, shield review {t.shield_review}")
    figures, memory = evaluate(model, children, seed, records)
    lines.append(f"evaluation: seed {seed} (separate from the seed weights and thresholds came from), "
                 f"index of {memory['index_children']:,} children "
                 f"(1 in {HOLD_OUT} held out) built in {memory['index_build_s']:.1f} s")
    lines += figures.lines()
    grown = memory["rss_after_index_mb"] - memory["rss_before_index_mb"]
    lines.append("memory while the index grew: " + ", ".join(
        f"{size:,} children {rss:,.0f} MB resident "
        f"({(rss - memory['rss_before_index_mb']) * 2**20 / size:,.0f} B/child)"
        for size, rss in memory["growth"]))
    lines.append(f"memory: the index took {grown:,.0f} MB "
                 f"({grown * 2**20 / max(memory['index_children'], 1):,.0f} bytes per child); "
                 f"{memory['rss_after_index_mb']:,.0f} MB resident after building it, "
                 f"peak {memory['peak_rss_mb']:,.0f} MB while linking "
                 f"({memory['peak_rss_mb'] - memory['rss_after_index_mb']:+,.0f} MB over "
                 f"{figures.records:,} records: caches are bounded)")
    lines.append(f"load average at end {os.getloadavg()[0]:.1f}")
    return "\n".join(lines)


def command(
    children: Annotated[int, typer.Option("--children", min=1, help="Children in the index.")] = 1_000_000,
    records: Annotated[int, typer.Option("--records", min=1, help="Incoming records to link.")] = 100_000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the evaluation area.")] = 2,
    train_seed: Annotated[int, typer.Option("--train-seed", help="Seed of the training area.")] = 1,
    train_children: Annotated[int, typer.Option("--train-children", min=2,
                                                help="Children in the training area.")] = 20_000,
    u_pairs: Annotated[int, typer.Option("--u-pairs", min=1, help="Random pairs for u.")] = 200_000,
    save_model: Annotated[Path | None, typer.Option("--save-model",
                                                    help="Write the estimated model here.")] = None,
    stored: Annotated[bool, typer.Option("--stored", help="Use the stored model, do not train.")] = False,
    lists: Annotated[Path | None, typer.Option(
        "--lists", help="Instead: write two faulty CSV lists of --children children here and link them "
                        "as `childindex link` does (ops/bench/lists.py; Splink too if installed).")] = None,
) -> None:
    """Matcher quality and speed on synthetic areas: P/R/F1, review share, blocking recall, records/s."""
    if lists is not None:
        from ops.bench.lists import run as run_lists

        lines = [f"machine: {describe_machine()}; load average at start {os.getloadavg()[0]:.1f}",
                 "model: stored defaults", *run_lists(children, seed, lists, MatchModel.load())]
        typer.echo("\n".join(lines))
        return
    typer.echo(run(children, records, seed, train_seed, train_children, u_pairs, save_model, stored))
