"""What a parse gives back: accepted source records, record errors, a file report, file errors.

Nothing here ever holds a prohibited value, and the only personal value an error may carry is a
valid UPN (so a school can find the pupil it refers to). Reasons and warnings are written by the
parsers from fixed phrases, field names and positions, never from the file's content.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from index.records import ChildRecord, UndatedRecord
from index.vocabulary import SourceKind

log = logging.getLogger("ingest")

# A report keeps the first rejections in full and counts the rest, so that a file of bad
# records cannot make the report grow without bound (the caller sees every error as it streams).
MAX_REPORTED_ERRORS = 1000


class FeedError(Exception):
    """A whole file cannot be read (or cannot be read to its end).

    `report` is the report as far as the parse got; `truncated` says the file ended (or broke)
    after some records had already been yielded, which the caller may keep.
    """

    def __init__(self, file: str, reason: str, *, truncated: bool = False) -> None:
        self.file = file
        self.reason = reason
        self.truncated = truncated
        self.report: ParseReport | None = None
        super().__init__(f"{file}: {reason}")

    def add_context(self, context: str) -> None:
        self.reason = f"{self.reason}; {context}"
        self.args = (f"{self.file}: {self.reason}",)


@dataclass(frozen=True)
class RecordError:
    """One rejected pupil or row: where it is, which field, and why; never its content."""

    file: str
    record_ref: str
    field: str
    reason: str
    upn: str | None = None
    # A census pupil's names and date of birth as sent (ingest.roll.pupil_identity): staged only
    # until the run closes the census, to keep the pupil on roll; never printed or reported.
    identity: str | None = field(default=None, repr=False, compare=False)

    def __str__(self) -> str:
        upn = f" (UPN {self.upn})" if self.upn else ""
        return f"{self.file}: {self.record_ref}{upn}: {self.field}: {self.reason}"


@dataclass(frozen=True)
class SourceRecord:
    """One accepted pupil or row, minimised and validated, ready for staging."""

    record_ref: str
    # An `UndatedRecord` only from a service feed whose date of birth cannot be used (issue 15).
    child: ChildRecord | UndatedRecord
    left_on: dt.date | None = None       # census leavers: the date the pupil left the school
    sender_ref: str | None = None        # service feeds: the sender's own row reference
    warnings: tuple[str, ...] = ()
    upn_conflict: str | None = None      # another pupil of the file with this UPN (its record_ref)

    @property
    def upn(self) -> str | None:
        return next((i.value for i in self.child.identifiers if i.scheme == "upn"), None)


Outcome = SourceRecord | RecordError


@dataclass
class ParseReport:
    """Facts about one file: header, counts, rejections, and counts of dropped elements."""

    file: str
    kind: SourceKind
    header: dict[str, str] = field(default_factory=dict)
    records_seen: int = 0
    accepted: int = 0
    rejected_count: int = 0
    rejected: list[RecordError] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)
    # Row warnings counted by field and reason ("date_of_birth: is missing, kept, ..."): a file
    # of many rows with one fault says so once, with how many (service feeds).
    warning_counts: Counter[str] = field(default_factory=Counter)
    complete: bool = False
    failure: str | None = None

    def reject(self, error: RecordError) -> None:
        self.rejected_count += 1
        if len(self.rejected) < MAX_REPORTED_ERRORS:
            self.rejected.append(error)

    def warn(self, warning: str) -> None:
        if len(self.warnings) < MAX_REPORTED_ERRORS:
            self.warnings.append(warning)

    def count_warning(self, warning: str) -> None:
        self.warning_counts[warning] += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "kind": self.kind.value,
            "header": dict(self.header),
            "records_seen": self.records_seen,
            "accepted": self.accepted,
            "rejected_count": self.rejected_count,
            "rejected": [str(e) for e in self.rejected],
            "dropped": dict(sorted(self.dropped.items())),
            "warnings": list(self.warnings),
            "warning_counts": dict(sorted(self.warning_counts.items())),
            "complete": self.complete,
            "failure": self.failure,
        }


@dataclass
class FeedResult:
    """Everything from one file, collected: for small files and tests (large files: iterate)."""

    records: list[SourceRecord]
    errors: list[RecordError]
    report: ParseReport
    failure: FeedError | None


class FeedParse:
    """One streaming pass over one file.

    Iterate it to get each pupil/row as a `SourceRecord` or a `RecordError`, in file order; the
    `report` fills in as it goes. A file-level problem raises `FeedError` (with the report so
    far); when it comes part-way (a truncated file), everything yielded before it stays good.
    """

    def __init__(
        self, path: Path, kind: SourceKind, items: Callable[[ParseReport], Iterator[Outcome]]
    ) -> None:
        self.path = path
        self.report = ParseReport(file=path.name, kind=kind)
        self._items = items
        self._started = False

    def __iter__(self) -> Iterator[Outcome]:
        if self._started:
            raise RuntimeError("a FeedParse can be iterated only once")
        self._started = True
        report = self.report
        try:
            for item in self._items(report):
                report.records_seen += 1
                if isinstance(item, SourceRecord):
                    report.accepted += 1
                else:
                    report.reject(item)
                yield item
        except FeedError as exc:
            if exc.truncated:
                exc.add_context(
                    f"{report.records_seen} records were read before it "
                    f"({report.accepted} accepted, {report.rejected_count} rejected)"
                )
            report.failure = exc.reason
            exc.report = report
            log.warning("feed %s stopped: %s", report.file, exc.reason)
            raise
        report.complete = True
        log.info(
            "feed %s parsed: %d accepted, %d rejected, %d elements dropped",
            report.file, report.accepted, report.rejected_count, sum(report.dropped.values()),
        )

    def collect(self) -> FeedResult:
        """Run the whole parse, keeping every record (and the file error, if any)."""
        records: list[SourceRecord] = []
        errors: list[RecordError] = []
        failure: FeedError | None = None
        try:
            for item in self:
                (records if isinstance(item, SourceRecord) else errors).append(item)  # type: ignore[arg-type]
        except FeedError as exc:
            failure = exc
        return FeedResult(records, errors, self.report, failure)
