"""Finding a child: a stated reason, narrow criteria, at most ten results (name, date of birth,
gender, town), every search audited with its reason and criteria in the same transaction."""

from __future__ import annotations

from fastapi import APIRouter

from access import Permission
from access.roles import Scope
from access.view_policy import sees_town
from api.deps import Ctx, CurrentActor, record, requires
from api.schemas import SearchBody, SearchOut, SearchResult
from index.search import MAX_RESULTS, SearchQuery, SearchQueryError
from index.store import child_summaries, transaction

router = APIRouter(tags=["practitioner"], dependencies=requires(Permission.SEARCH))


@router.post("/search", response_model=SearchOut)
def search(body: SearchBody, ctx: Ctx, who: CurrentActor) -> SearchOut:
    if (body.identifier is None) != (body.identifier_scheme is None):
        raise SearchQueryError("identifier and identifier_scheme go together")
    own_la = who.principal.la if who.principal.grants()[Permission.SEARCH] is Scope.OWN_LA else None
    query = SearchQuery(
        identifier=(body.identifier_scheme, body.identifier)
        if body.identifier_scheme and body.identifier else None,
        family_name=body.family_name, given_name=body.given_name, date_of_birth=body.date_of_birth,
        postcode=body.postcode, gender=body.gender.value if body.gender else None, owning_la=own_la,
    )
    query.check()
    hits = ctx.search.search(query, MAX_RESULTS)
    ids = [h.child_id for h in hits]
    criteria = {
        "identifier_scheme": body.identifier_scheme, "identifier": body.identifier,
        "family_name": body.family_name, "given_name": body.given_name,
        "date_of_birth": body.date_of_birth, "postcode": body.postcode, "gender": body.gender,
        "owning_la": own_la,
    }
    with transaction(ctx.engine) as db:
        summaries = child_summaries(db, ids)
        results = [
            SearchResult(child_id=s.child_id, child_number=s.child_number, given_name=s.given_name,
                         family_name=s.family_name, date_of_birth=s.date_of_birth, gender=s.gender,
                         town=s.town if sees_town(who.principal, s) else None, shielded=s.shielded)
            for i in ids if (s := summaries.get(i)) is not None
        ]
        record(db, who, "search", reason=body.reason, criteria=criteria,
               child_ids=[r.child_id for r in results], at=ctx.clock())
    return SearchOut(results=results)
