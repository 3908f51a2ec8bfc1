"""Per-user rate limits counted from the audit trail (access.rate_limits), on SQLite and
PostgreSQL: refused at exactly the configured count in each window, refusals not counted,
other users and actions not counted, and a long history outside the windows read not at all.

The API's side (429, the message, the refusal audited) is in test_scraping_limits.py."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine

from access.audit import Event, append
from access.rate_limits import _COUNTS, RateLimited, check_rate
from access.settings import AccessSettings
from index.store import transaction

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
LIMITS = AccessSettings(search_limit_per_minute=3, search_limit_per_hour=5, search_limit_per_day=8,
                        view_limit_per_minute=2, view_limit_per_hour=100, view_limit_per_day=100)


def entries(engine: Engine, actor: str, action: str, ages: list[dt.timedelta], outcome: str = "ok") -> None:
    with transaction(engine) as db:
        for age in sorted(ages, reverse=True):
            append(db, Event(actor=actor, action=action, outcome=outcome, at=NOW - age), keys=None)


def refusal(engine: Engine, actor: str, action: str) -> RateLimited | None:
    with transaction(engine) as db:
        try:
            check_rate(db, actor, action, NOW, settings=LIMITS)
        except RateLimited as exc:
            return exc
    return None


def seconds(*values: float) -> list[dt.timedelta]:
    return [dt.timedelta(seconds=v) for v in values]


def test_each_window_refuses_at_exactly_its_limit(engine: Engine) -> None:
    # Two searches in the last minute: under the minute's 3.
    entries(engine, "u", "search", seconds(10, 50))
    assert refusal(engine, "u", "search") is None
    # The third reaches it; retry when the oldest of the minute (50 s ago) leaves it.
    entries(engine, "u", "search", seconds(5))
    minute = refusal(engine, "u", "search")
    assert minute is not None and (minute.limit, minute.window) == (3, dt.timedelta(minutes=1))
    assert minute.retry_after == 11


def test_the_hour_and_the_day_count_their_own_windows(engine: Engine) -> None:
    # 4 searches this hour (none in the last minute), 3 more earlier today, 10 yesterday.
    entries(engine, "u", "search", seconds(120, 600, 1200, 3000) + seconds(4000, 7200, 20000)
            + [dt.timedelta(days=1, seconds=s) for s in range(1, 11)])
    assert refusal(engine, "u", "search") is None  # hour 4 < 5, day 7 < 8
    entries(engine, "u", "search", seconds(3500))
    hour = refusal(engine, "u", "search")
    assert hour is not None and (hour.limit, hour.window) == (5, dt.timedelta(hours=1))


def test_the_day_limit(engine: Engine) -> None:
    entries(engine, "u", "search", [dt.timedelta(hours=h) for h in range(2, 10)])  # 8 today, none this hour
    day = refusal(engine, "u", "search")
    assert day is not None and (day.limit, day.window) == (8, dt.timedelta(days=1))
    assert day.retry_after == 15 * 3600 + 1  # the oldest (9 hours ago) leaves the day in 15 hours


def test_refusals_other_users_and_other_actions_are_not_counted(engine: Engine) -> None:
    entries(engine, "u", "search", seconds(1, 2))
    entries(engine, "u", "search", seconds(3, 4, 5, 6), outcome="rate_limited")
    entries(engine, "someone.else", "search", seconds(1, 2, 3, 4))
    entries(engine, "u", "view_record", seconds(1, 2, 3, 4))
    assert refusal(engine, "u", "search") is None
    # Other outcomes than a refusal for the rate itself do count (a refused or empty search).
    entries(engine, "u", "search", seconds(7), outcome="no_evidence")
    assert refusal(engine, "u", "search") is not None
    views = refusal(engine, "u", "view_record")
    assert views is not None and views.action == "view_record" and views.limit == 2


def test_a_long_history_outside_the_windows_does_not_count(engine: Engine) -> None:
    entries(engine, "u", "search", [dt.timedelta(days=2, minutes=m) for m in range(200)])
    entries(engine, "u", "search", seconds(30, 40))
    assert refusal(engine, "u", "search") is None


def test_an_action_without_limits_is_never_refused(engine: Engine) -> None:
    entries(engine, "u", "sign_in", seconds(*range(1, 30)))
    assert refusal(engine, "u", "sign_in") is None


def test_the_count_reads_the_users_window_from_one_index(sqlite_engine: Engine) -> None:
    """Not the user's whole history: each window a range of ix_audit_events_actor_action_at,
    answered from the index alone (SQLite's plan; PostgreSQL plans by its statistics)."""
    compiled = _COUNTS["search"].compile(dialect=sqlite_engine.dialect)
    values = {"actor": "u", "action": "search"} | {
        name: NOW.isoformat(" ") if name.startswith("since") else 10
        for name in compiled.params if name.startswith(("since", "limit"))}
    bound = compiled.construct_params(values)
    with sqlite_engine.connect() as conn:
        plan = [row[-1] for row in conn.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {compiled}", tuple(bound[name] for name in compiled.positiontup or ()))]
    scans = [step for step in plan if "audit_events" in step]
    assert len(scans) == 3, plan
    assert all("COVERING INDEX ix_audit_events_actor_action_at (actor=? AND action=? AND at>?)" in step
               for step in scans), plan


@pytest.mark.parametrize("action", ["search", "view_record"])
def test_every_limited_action_has_its_statement(action: str) -> None:
    assert len(_COUNTS[action].selected_columns) == 3
