"""Feeds: census and CTF XML, CSV service feeds; minimise, validate (stage: later).

Public surface: the names below. Parsers stream: iterate a `FeedParse` for `SourceRecord` /
`RecordError` in file order; its `report` (a `ParseReport`) fills in as it goes; a file-level
problem raises `FeedError` carrying the report so far.
"""

from ingest.census import CENSUS_PUPIL, parse_census
from ingest.ctf import CTF_PUPIL, parse_ctf
from ingest.feeds import detect_kind, parse_feed
from ingest.minimise import Keep
from ingest.pupil import RELATIONSHIP_CODES
from ingest.report import FeedError, FeedParse, FeedResult, ParseReport, RecordError, SourceRecord
from ingest.service_feed import (
    SERVICE_FEED_COLUMNS,
    SERVICE_FEED_REQUIRED,
    parse_service_feed,
)

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
    "SourceRecord",
    "detect_kind",
    "parse_census",
    "parse_ctf",
    "parse_feed",
    "parse_service_feed",
]
