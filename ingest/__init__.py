"""Feeds: census and CTF XML, CSV service feeds; minimise, validate, stage; the nightly run.

Public surface: the names below. `parse_feed(path)` (or `parse_census` / `parse_ctf` /
`parse_service_feed`) returns a `FeedParse`: iterate it for a `SourceRecord` or a `RecordError`
per pupil/row, in file order, in bounded memory; its `report` (a `ParseReport`: header facts,
counts, rejections, counts of dropped elements, warnings) fills in as it goes. A file-level
problem raises `FeedError` carrying that report; when it comes part-way (`truncated`), what was
yielded before it is good and may be kept. `FeedParse.collect()` gathers all of it for small
files and tests.

What each format keeps is declared as data (`CENSUS_PUPIL`, `CTF_PUPIL`: element path ->
field); everything else is dropped while parsing and only counted.

Decisions: a CTF with no pupils is a `FeedError` (a transfer file exists to carry pupils); a
census with none is accepted with a warning. A bad optional value (a contact's phone, a former
UPN, a school-history entry) is left out with a warning; a bad UPN, name, date of birth, age,
postcode or school date rejects the pupil. Contacts are never merged.

`submit_file` checks a file at once and stages its minimised records (`ingest.staging`);
`run_nightly` takes every staged submission through matching into the store and the search
backend in crash-safe committed batches, under a lock (`ingest.nightly`, `ingest.run_lock`),
linking records a source sent before unchanged without matching them again (`ingest.unchanged`);
`submission_report` is each submission's report for the school and the LA; `held_records` the
LA data team's list of service-feed rows held for them (no usable date of birth, no sure match).
"""

from ingest.census import CENSUS_PUPIL, parse_census
from ingest.ctf import CTF_PUPIL, parse_ctf
from ingest.feeds import detect_kind, parse_feed
from ingest.minimise import Keep
from ingest.nightly import RunSummary, run_nightly
from ingest.pupil import RELATIONSHIP_CODES
from ingest.report import FeedError, FeedParse, FeedResult, ParseReport, RecordError, SourceRecord
from ingest.run_lock import RunLocked
from ingest.run_report import (
    UnknownSubmission,
    describe_report,
    held_records,
    school_run_report,
    submission_report,
)
from ingest.service_feed import (
    SERVICE_FEED_COLUMNS,
    SERVICE_FEED_REQUIRED,
    parse_service_feed,
)
from ingest.staging import SubmissionRejected, SubmissionState, Submitted, submit_file

__all__ = [
    "CENSUS_PUPIL",
    "CTF_PUPIL",
    "RELATIONSHIP_CODES",
    "SERVICE_FEED_COLUMNS",
    "SERVICE_FEED_REQUIRED",
    "FeedError",
    "FeedParse",
    "FeedResult",
    "Keep",
    "ParseReport",
    "RecordError",
    "RunLocked",
    "RunSummary",
    "SourceRecord",
    "SubmissionRejected",
    "SubmissionState",
    "Submitted",
    "UnknownSubmission",
    "describe_report",
    "detect_kind",
    "held_records",
    "parse_census",
    "parse_ctf",
    "parse_feed",
    "parse_service_feed",
    "run_nightly",
    "school_run_report",
    "submission_report",
    "submit_file",
]
