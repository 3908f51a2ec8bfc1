"""Running the service: liveness, readiness, Prometheus metrics and the nightly run's state.

`/health` and `/ready` need no sign-in and say nothing about any child: only whether the
process answers and whether the store, the directory and (when configured) Elasticsearch can be
reached, by name, with the failing part's error class at most. `/metrics` serves counts only,
and only to a configured scraper (its address, or its bearer token); with neither configured it
does not exist (404). `/operations/nightly` is for the operator and the LA data team.
"""

from __future__ import annotations

import datetime as dt
import hmac
import ipaddress
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select, text

from access import Permission
from api.context import Context
from api.deps import Ctx, CurrentActor, record, requires
from api.schemas import Output
from index import models as m
from index.store import transaction
from index.vocabulary import ReviewStatus
from ingest.run_state import UnknownRun, last_success, nightly_state, run_detail

router = APIRouter(tags=["operations"])


class HealthOut(Output):
    status: str


class ReadyOut(Output):
    status: str  # "ready" or "not_ready"
    checks: dict[str, str]  # part -> "ok", "not_configured" or the error's class


class RunOut(Output):
    run_id: int
    state: str
    outcome: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    report: dict[str, Any] | None


class RetentionRunOut(Output):
    run_id: int
    as_of: dt.date
    dry_run: bool
    state: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    report: dict[str, Any] | None


class RejectionsOut(Output):
    field: str
    reason: str
    count: int


class SubmissionOut(Output):
    """A submission in counts, codes and fixed reasons: no file name, no UPN, no position."""

    submission_id: int
    kind: str
    source: str  # the school's LAEstab, the practice's ODS code or the feed's name
    owning_la: str | None
    state: str
    received_at: dt.datetime
    records_staged: int
    records_run: int
    rejected: int
    rejections: list[RejectionsOut]
    failure: str | None
    dropped: dict[str, int]
    warnings: list[str]
    run_counts: dict[str, int]
    reviews_opened: int
    resumed_from: int | None
    done_at: dt.datetime | None


class RunDetailOut(Output):
    run: RunOut
    submissions: list[SubmissionOut]


class NightlyOut(Output):
    last_run: RunOut | None
    last_success_at: dt.datetime | None
    last_success_records: int
    runs: list[RunOut]
    submissions_by_state: dict[str, int]
    failed_submissions: list[int]
    reviews_open: int
    search_outbox_backlog: int
    retention_runs: list[RetentionRunOut]
    problems: list[SubmissionOut]  # newest failed or refused submissions, with why


@router.get("/health", response_model=HealthOut)
def health() -> HealthOut:
    """Live: the process answers. Nothing is checked beyond that (see /ready)."""
    return HealthOut(status="ok")


def readiness(ctx: Context) -> dict[str, str]:
    """Each part the service needs, and whether it answers now."""
    checks: dict[str, str] = {}
    try:
        with ctx.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["store"] = "ok"
    except Exception as exc:  # any failure means not ready; its class says which kind
        checks["store"] = type(exc).__name__
    try:
        ctx.signin.directory.check_reachable()
        checks["directory"] = "ok"
    except Exception as exc:
        checks["directory"] = type(exc).__name__
    ping = getattr(ctx.search, "ping", None)
    if ping is None:
        checks["search"] = "not_configured"  # the embedded backend lives in the store
    else:
        try:
            checks["search"] = "ok" if ping() else "unreachable"
        except Exception as exc:
            checks["search"] = type(exc).__name__
    return checks


def is_ready(checks: dict[str, str]) -> bool:
    """Every part answers, or is not configured (the embedded search lives in the store)."""
    return all(v in ("ok", "not_configured") for v in checks.values())


@router.get("/ready", response_model=ReadyOut, responses={503: {"model": ReadyOut}})
def ready(ctx: Ctx) -> Any:
    """Ready: the store, the directory and Elasticsearch (when it is the search backend) answer."""
    checks = readiness(ctx)
    good = is_ready(checks)
    body = ReadyOut(status="ready" if good else "not_ready", checks=checks)
    return body if good else JSONResponse(body.model_dump(), status_code=503)


class StoreGauges(Collector):
    """Gauges read from the store at each scrape: counts and times only."""

    def __init__(self, engine: Engine, clock: Any) -> None:
        self.engine = engine
        self.clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        success_at, records = last_success(self.engine)
        now = self.clock()
        with transaction(self.engine) as db:
            reviews = db.scalar(select(func.count()).select_from(m.MatchReview)
                                .where(m.MatchReview.status == ReviewStatus.OPEN)) or 0
            backlog = db.scalar(select(func.count()).select_from(m.SearchOutboxEntry)) or 0
            locked = db.scalar(select(func.count()).select_from(m.AccessLockout)
                               .where(m.AccessLockout.locked_until > now)) or 0
        yield GaugeMetricFamily("childindex_nightly_last_success_timestamp_seconds",
                                "When the last nightly run that ended well finished (0: never)",
                                value=success_at.timestamp() if success_at else 0)
        yield GaugeMetricFamily("childindex_nightly_last_success_records",
                                "Records the last successful nightly run processed", value=records)
        yield GaugeMetricFamily("childindex_reviews_open", "Open possible-match review items",
                                value=reviews)
        yield GaugeMetricFamily("childindex_search_outbox_backlog",
                                "Children queued for the search backend", value=backlog)
        yield GaugeMetricFamily("childindex_users_locked_out", "Users locked out now", value=locked)


def _scraper_allowed(ctx: Context, request: Request) -> bool:
    settings = ctx.settings
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    if token:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return True
    host = request.client.host if request.client else None
    if host and settings.metrics_scrapers:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in ipaddress.ip_network(n, strict=False) for n in settings.metrics_scrapers)
    return False


@router.get("/metrics", include_in_schema=False)
def metrics(ctx: Ctx, request: Request) -> Response:
    """Prometheus text format, for a configured scraper only."""
    settings = ctx.settings
    if not settings.metrics_token and not settings.metrics_scrapers:
        raise HTTPException(404, "metrics are not configured")
    if not _scraper_allowed(ctx, request):
        raise HTTPException(403, "not a configured metrics scraper")
    state = request.app.state
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/operations/nightly", response_model=NightlyOut, dependencies=requires(Permission.READ_RUNS))
def nightly(ctx: Ctx, who: CurrentActor) -> NightlyOut:
    """The nightly run: the last runs, their outcome and reports, what waits and what failed."""
    state = nightly_state(ctx.engine)
    with transaction(ctx.engine) as db:
        record(db, who, "read_runs", reason="operations", at=ctx.clock())
    return NightlyOut.model_validate(state)


RunId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("/operations/nightly/runs/{run_id}", response_model=RunDetailOut,
            dependencies=requires(Permission.READ_RUNS))
def nightly_run(run_id: RunId, ctx: Ctx, who: CurrentActor) -> RunDetailOut:
    """One run's report, and each submission it ran in counts and reasons."""
    try:
        detail = run_detail(ctx.engine, run_id)
    except UnknownRun as exc:
        raise HTTPException(404, str(exc)) from None
    with transaction(ctx.engine) as db:
        record(db, who, "read_runs", reason="operations", at=ctx.clock())
    return RunDetailOut.model_validate(detail)
