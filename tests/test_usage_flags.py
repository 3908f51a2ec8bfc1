"""Unusual-use flags counted from searches (access.usage), on SQLite and PostgreSQL: searches in
a clock hour and a clock day (UTC), results shown and how many of them were opened, identifier
searches in sequence, near misses; only the period counts.

test_scraping_limits.py reads the same flags through GET /la/usage; test_access_audit.py has
the viewing flags (many children, outside the LA)."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import Engine

from access.audit import Event, append
from access.settings import AccessSettings
from access.usage import UsageFlag, flag_unusual_use
from api.schemas import UsageOut
from index.identifiers import upn_check_letter
from index.store import transaction

DAY1 = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
SETTINGS = AccessSettings(unusual_searches_per_hour=4, unusual_searches_per_day=5,
                          unusual_results_unopened=3, unusual_results_opened_share=0.5,
                          unusual_identifier_runs=3, unusual_identifier_gap=20, unusual_near_misses=3,
                          unusual_use_min_children=1000)


def upn(serial: int) -> str:
    body = f"823200015{serial:03d}"
    return upn_check_letter(body) + body


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    return DAY1 + dt.timedelta(days=day - 1, hours=hour, minutes=minute, seconds=second)


def write(engine: Engine, events: list[Event]) -> None:
    with transaction(engine) as db:
        for event in sorted(events, key=lambda e: e.at or DAY1):
            append(db, event, keys=None)


def search(actor: str, when: dt.datetime, *, outcome: str = "ok", shown: tuple[int, ...] = (),
           identifier: tuple[str, str] | None = None) -> Event:
    criteria = ({"identifier_scheme": identifier[0], "identifier": identifier[1]} if identifier
                else {"family_name": "Smith", "date_of_birth": "2015-01-01"})
    return Event(actor=actor, action="search", outcome=outcome, reason="safeguarding", at=when,
                 child_ids=shown, criteria=criteria, actor_role="practitioner", actor_la="823")


def view(actor: str, when: dt.datetime, child: int, action: str = "view_record") -> Event:
    return Event(actor=actor, action=action, reason="safeguarding", at=when, child_ids=[child],
                 actor_role="practitioner", actor_la="823")


def flags(engine: Engine, start: dt.datetime, end: dt.datetime) -> dict[str, UsageFlag]:
    with transaction(engine) as db:
        return {f.actor: f for f in flag_unusual_use(db, start, end, settings=SETTINGS)}


def test_search_flags(engine: Engine) -> None:
    events = [
        # Day 1: five searches in the clock hour 10:00-10:59 (one refused for the rate, which
        # still counts as searching), one at 11:00 (the next hour): 6 that day.
        search("scraper", at(1, 10, 0), shown=(1, 2)),
        search("scraper", at(1, 10, 15), shown=(2, 3, 4)),
        search("scraper", at(1, 10, 30), outcome="no_evidence"),
        search("scraper", at(1, 10, 45), outcome="no_evidence"),
        search("scraper", at(1, 10, 59, 59), outcome="rate_limited"),
        search("scraper", at(1, 11, 0), outcome="no_evidence"),
        # Day 2, an hour apart: identifier searches, UPNs 1, 3, 4, 60 and 62 (three steps within
        # 20 of the one before of the same scheme: 1->3, 3->4, 60->62), an NHS number between them
        # (another scheme), the last refused (it counts as searching, but showed nothing).
        search("scraper", at(2, 9), identifier=("upn", upn(1))),
        search("scraper", at(2, 10), identifier=("nhs_number", "9434765919")),
        search("scraper", at(2, 11), identifier=("upn", upn(3))),
        search("scraper", at(2, 12), identifier=("upn", upn(4))),
        search("scraper", at(2, 13), identifier=("upn", upn(60))),
        search("scraper", at(2, 14), identifier=("upn", upn(62)), outcome="refused", shown=(8,)),
        # Opened: child 2 (shown), child 9 (never shown); a shield override opens too.
        view("scraper", at(1, 12), 2),
        view("scraper", at(1, 12, 5), 9),
        # Someone who searched a little and opened what they found.
        search("quiet", at(1, 10, 0), shown=(5,)),
        view("quiet", at(1, 10, 1), 5, action="shield_override"),
        # Outside the period: not counted.
        *(search("scraper", at(4, 10, m)) for m in range(10)),
    ]
    write(engine, events)
    found = flags(engine, DAY1, at(3, 0))
    assert set(found) == {"scraper"}
    scraper = found["scraper"]
    assert scraper.reasons == ("searches_per_hour", "searches_per_day", "results_unopened",
                               "identifier_sequence", "near_misses")
    assert (scraper.searches_max_hour, scraper.searches_max_day) == (5, 6)
    assert (scraper.results_shown, scraper.results_opened) == (4, 1)
    assert (scraper.identifier_steps, scraper.near_misses) == (3, 3)
    assert (scraper.children_viewed, scraper.outside_la_views) == (2, 0)


def test_under_every_threshold_nothing_is_flagged(engine: Engine) -> None:
    write(engine, [search("pat", at(1, 9, m), shown=(m + 1,)) for m in range(4)]
          + [view("pat", at(1, 10, m), m + 1) for m in range(4)]
          + [search("pat", at(1, 11), outcome="no_evidence")])
    assert flags(engine, DAY1, at(2, 0)) == {}


def test_the_periods_bounds(engine: Engine) -> None:
    """[start, end): a search at the end is outside, one at the start inside."""
    write(engine, [search("edge", at(1, 10, 0, s)) for s in range(5)] + [search("edge", at(1, 11, 0))])
    assert flags(engine, at(1, 10, 0), at(1, 11, 0))["edge"].searches_max_hour == 5
    assert "edge" not in flags(engine, at(1, 10, 0, 1), at(1, 11, 0, 1))  # 4 + 1 in two hours


def test_the_api_answers_every_field_of_a_flag() -> None:
    """The API's answer is the flag itself: its fields are declared once (access.usage)."""
    [flag] = [d for d in UsageOut.model_json_schema()["$defs"].values() if d["title"] == "UsageFlag"]
    assert list(flag["properties"]) == [f.name for f in dataclasses.fields(UsageFlag)]
    answer = UsageOut(start=DAY1, end=DAY1, flags=[UsageFlag("u", 1, 0.5, 0, ("outside_la",))])
    assert answer.model_dump(mode="json")["flags"][0]["reasons"] == ["outside_la"]
