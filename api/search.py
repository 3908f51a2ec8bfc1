"""Finding a child: a stated reason (one the user's role may give: access.reasons), narrow
criteria, at most ten results (name, date of birth, gender, town, as the view policy shows them:
access.view_policy.search_results), every search audited with its reason and criteria in the same
transaction. Each result agrees with the query on enough evidence that the searcher may be shown
(index.search: the evidence rule and the view policy's disclosure); nothing shown although
candidates agreed on a date, postcode or identifier alone is audited as `no_evidence`, and a
user beyond their rate limit is refused (429, audited as `rate_limited`: access.rate_limits).

Every attempt is in the trail with its outcome, not only the searches that ran: a body that is
not valid (422, `refused`, without criteria: they were not understood), a reason the role may
not give (403, `forbidden`), criteria too broad (422, `refused`, with the criteria as a search
would keep them) and a search that failed (500 or 503, `failed`). The body is therefore read
here rather than by FastAPI, whose own 422 would come before any handler could record it.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from access import Forbidden, Permission, RegisterRefused, SessionInvalid
from access.roles import Scope
from access.view_policy import Viewer, search_disclosure, search_results
from api.deps import Actor, Ctx, CurrentActor, record, require_reason, requires, within_rate
from api.schemas import SearchBody, SearchOut, SearchResult
from index.search import MAX_RESULTS, SearchQuery, SearchQueryError
from index.store import child_summaries, transaction

log = logging.getLogger(__name__)
router = APIRouter(tags=["practitioner"], dependencies=requires(Permission.SEARCH))

# Refusals that write their own audit entry before they are raised.
AUDITED_ALREADY: tuple[type[Exception], ...] = (Forbidden, SessionInvalid, RegisterRefused)

_BODY_DOC: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": SearchBody.model_json_schema()}}}}


@router.post("/search", response_model=SearchOut, openapi_extra=_BODY_DOC)
async def search_endpoint(request: Request, ctx: Ctx, who: CurrentActor) -> SearchOut:
    """Search with a stated reason and narrow criteria (the body: SearchBody)."""
    raw = await request.body()
    return await run_in_threadpool(audited_search, ctx, who, raw, request.headers.get("content-type"))


def is_json(content_type: str | None) -> bool:
    """A JSON media type, as FastAPI requires of every other JSON route's body (text/plain is
    what a cross-site form may send without asking first)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    kind, _, subtype = media.partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))


def own_la_of(who: Actor) -> str | None:
    return who.principal.la if who.principal.grants()[Permission.SEARCH] is Scope.OWN_LA else None


def criteria_of(body: SearchBody, own_la: str | None) -> dict[str, Any]:
    return {
        "identifier_scheme": body.identifier_scheme, "identifier": body.identifier,
        "family_name": body.family_name, "given_name": body.given_name,
        "date_of_birth": body.date_of_birth, "postcode": body.postcode, "gender": body.gender,
        "owning_la": own_la,
    }


def attempt(ctx: Ctx, who: Actor, outcome: str, body: SearchBody | None = None) -> None:
    """Record a search that did not run (its own transaction: nothing else happened)."""
    try:
        with transaction(ctx.engine) as db:
            record(db, who, "search", reason=body.reason if body else None, outcome=outcome,
                   criteria=criteria_of(body, own_la_of(who)) if body else None, at=ctx.clock())
    except Exception as exc:  # the store itself may be what failed: the first error stands
        log.error("a failed search could not be audited: %s", type(exc).__name__)


def viewer(who: Actor) -> Viewer:
    return Viewer(principal=who.principal, organisation_code=who.organisation_code,
                  organisation=who.organisation, service_type=who.service_type)


def audited_search(ctx: Ctx, who: Actor, raw: bytes,
                   content_type: str | None = "application/json") -> SearchOut:
    within_rate(ctx, who, "search")
    if not is_json(content_type):
        attempt(ctx, who, "refused")
        raise HTTPException(415, "the search is a JSON body: send it with Content-Type: application/json")
    try:
        body = SearchBody.model_validate_json(raw)
    except ValidationError as exc:
        attempt(ctx, who, "refused")
        raise RequestValidationError(
            [{**e, "loc": ("body", *e.get("loc", ()))} for e in exc.errors()]) from None
    return search(body, ctx, who)


def search(body: SearchBody, ctx: Ctx, who: Actor) -> SearchOut:
    """A search whose body was understood (the API's and the web page's): the reason checked
    for the role, and the attempt audited whatever its outcome."""
    require_reason(ctx, who, Permission.SEARCH, body.reason)
    try:
        return run_search(body, ctx, who)
    except SearchQueryError:
        attempt(ctx, who, "refused", body)
        raise
    except AUDITED_ALREADY:
        raise
    except Exception:
        attempt(ctx, who, "failed", body)
        raise


def run_search(body: SearchBody, ctx: Ctx, who: Actor) -> SearchOut:
    if (body.identifier is None) != (body.identifier_scheme is None):
        raise SearchQueryError("identifier and identifier_scheme go together")
    own_la = own_la_of(who)
    seer = viewer(who)
    query = SearchQuery(
        identifier=(body.identifier_scheme, body.identifier)
        if body.identifier_scheme and body.identifier else None,
        family_name=body.family_name, given_name=body.given_name, date_of_birth=body.date_of_birth,
        postcode=body.postcode, gender=body.gender.value if body.gender else None, owning_la=own_la,
        disclosure=search_disclosure(seer),
    )
    query.check()
    hits = ctx.search.search(query, MAX_RESULTS)
    ids = [h.child_id for h in hits]
    with transaction(ctx.engine) as db:
        summaries = child_summaries(db, ids)
        views = search_results(db, seer, [s for i in ids if (s := summaries.get(i)) is not None])
        results = [SearchResult(**vars(v)) for v in views]
        # Nothing shown although candidates agreed on a date of birth, postcode or identifier:
        # a near miss, or names being tried against a date (access.usage counts them).
        outcome = "no_evidence" if not results and hits.withheld else "ok"
        record(db, who, "search", reason=body.reason, criteria=criteria_of(body, own_la),
               child_ids=[r.child_id for r in results], outcome=outcome, at=ctx.clock())
    return SearchOut(results=results, advice=None if results else hits.advice)
