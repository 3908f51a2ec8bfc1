"""The operator's pages (and the LA data team's, who may read the same): the nightly run's last
runs and how each ended, each run's report, what waits and what failed, the parts the service
needs and whether they answer (as `/ready` says), the search outbox and the last retention runs.

Each page calls api.operations' own functions behind the same dependencies (READ_RUNS), so a
refusal is the API's, and each read is audited as there. Counts, codes, states and fixed
reasons only: nothing on these pages names a child.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from access import Permission
from api import operations as api_operations
from api.deps import Ctx, CurrentActor, requires
from api.web.pages import SignedIn, render

router = APIRouter(include_in_schema=False, dependencies=[*SignedIn, *requires(Permission.READ_RUNS)])

# What each part of /ready is called on the page.
PARTS = {"store": "Store (database)", "directory": "Directory (LDAP)", "search": "Search (Elasticsearch)"}
# An outcome (ingest.run_state.RunOutcome, a retention run's state, a refused file) -> its tag's
# words and colour (govuk-tag modifiers): ended well is green, the rest draw the eye.
OUTCOME_TAGS = {
    "ok": ("Ended well", "govuk-tag--green"), "done": ("Ended well", "govuk-tag--green"),
    "running": ("Running", "govuk-tag--blue"), "stopped": ("Stopped early", "govuk-tag--yellow"),
    "failed": ("Failed", "govuk-tag--red"), "abandoned": ("Stopped part-way", "govuk-tag--orange"),
    "refused": ("Refused", "govuk-tag--red"),
}


@router.get("/operations")
def nightly(request: Request, ctx: Ctx, who: CurrentActor) -> Response:
    state = api_operations.nightly(ctx, who)
    checks = api_operations.readiness(ctx)
    return render(request, "operations.html", state=state, checks=checks, parts=PARTS,
                  tags=OUTCOME_TAGS, ready=api_operations.is_ready(checks))


@router.get("/operations/runs/{run_id}")
def run(request: Request, run_id: api_operations.RunId, ctx: Ctx, who: CurrentActor) -> Response:
    detail = api_operations.nightly_run(run_id, ctx, who)
    return render(request, "operations_run.html", detail=detail, tags=OUTCOME_TAGS)
