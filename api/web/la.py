"""The LA data team's pages (own LA only): the possible-match review queue and each item side by
side with its decision. Behind api.la's own dependencies (la_scope, review_scope), calling its
functions, so the scope checks, matching's decisions and the audit are the API's."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from access import Permission
from api import la as api_la
from api.deps import Ctx, CurrentActor, requires
from api.schemas import DecisionBody
from api.web.pages import Checked, SignedIn, redirect, render
from index.vocabulary import MatchReason

P = Permission
router = APIRouter(include_in_schema=False, dependencies=SignedIn)
Text = Annotated[str, Form(max_length=200)]
# The most items the queue page reads at once (the API's own limit).
QUEUE_PAGE = 200
# The coded notes offered with each verdict (no free text: the index holds no case notes).
NOTES = {
    "same": (MatchReason.IDENTIFIERS_CONFIRMED, MatchReason.DETAILS_CONFIRMED_WITH_SOURCE,
             MatchReason.DETAILS_MATCH),
    "different": (MatchReason.DIFFERENT_PEOPLE, MatchReason.TWINS_OR_SIBLINGS, MatchReason.IDENTIFIER_ERROR),
}
# The fields shown side by side, in order: (label, attribute of matching.ReviewedChild).
SIDE_BY_SIDE = (("Child number", "child_number"), ("Given name", "given_name"),
                ("Family name", "family_name"), ("Other names", "other_names"),
                ("Date of birth", "date_of_birth"), ("Gender", "gender"), ("Postcode", "postcode"),
                ("Town", "town"), ("Identifiers", "identifiers"), ("Shielded", "shielded"))


@router.get("/la/review-queue", dependencies=requires(P.REVIEW_QUEUE))
def queue(request: Request, la: api_la.OwnLa, ctx: Ctx, who: CurrentActor,
          done: str | None = None) -> Response:
    items = api_la.list_reviews(la, ctx, who, limit=QUEUE_PAGE).items
    oldest_first = sorted(items, key=lambda i: (i.opened_at, i.id))
    counts = Counter(i.rule for i in items)
    return render(request, "review_queue.html", items=oldest_first, counts=sorted(counts.items()),
                  page=QUEUE_PAGE, banner={"same": "The two records were merged.",
                                           "different": "The two records were kept apart."}.get(done or ""),
                  banner_success=bool(done))


def _review(request: Request, review_id: int, ctx: Ctx, who: CurrentActor, *, status: int = 200,
            errors: dict[str, str] | None = None) -> Response:
    item = api_la.show_review(review_id, ctx, who)
    return render(request, "review.html", status=status, item=item, fields=SIDE_BY_SIDE, notes=NOTES,
                  errors=errors)


@router.get("/la/review-queue/{review_id}", dependencies=requires(P.REVIEW_QUEUE))
def review(request: Request, review_id: api_la.Review, ctx: Ctx, who: CurrentActor) -> Response:
    return _review(request, review_id, ctx, who)


@router.post("/la/review-queue/{review_id}", dependencies=[Checked, *requires(P.REVIEW_QUEUE)])
def decide(request: Request, review_id: api_la.Review, ctx: Ctx, who: CurrentActor,
           verdict: Text = "", note: Text = "") -> Response:
    """The verdict is the button pressed; the note a coded reason that fits it."""
    if verdict not in NOTES:
        return _review(request, review_id, ctx, who, status=400,
                       errors={"note": "Choose same person or different people"})
    if note not in {n.value for n in NOTES[verdict]}:
        words = "same person" if verdict == "same" else "different people"
        return _review(request, review_id, ctx, who, status=400,
                       errors={"note": f"Select a note that explains why they are {words}"})
    api_la.decide(review_id, DecisionBody.model_validate({"verdict": verdict, "reason": note}), ctx, who)
    return redirect(f"/la/review-queue?done={verdict}")
