"""A service-feed row kept for its trusted identifier alone (issue 15: "keep every row that has
a name or a trusted identifier"): it has no family name, so there is nothing to match it on but
its UPN, NHS number or ULN. It is linked to the stored child those identifiers name when they
name exactly one; otherwise (no holder, or several children) it is held for the LA data team,
never made a child and never linked on a guess.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from index import UndatedRecord
from ingest.candidates import identifier_holders
from matching import Decision, MatchModel, Outcome, Rule


def decide_by_identifiers(session: Session, model: MatchModel, record: UndatedRecord) -> Decision:
    """LINK to the one stored child holding the record's trusted identifiers, else NEW (which
    the run holds: an `UndatedRecord` is never created)."""
    held = identifier_holders(session, ((i.scheme.value, i.value) for i in record.identifiers))
    children = {child for holders in held.values() for child in holders}
    scheme = min((scheme for scheme, _value in held), default=None)
    if len(children) == 1:
        (child,) = children
        return Decision(outcome=Outcome.LINK, rule=Rule.IDENTIFIER, ref=child, weight=None,
                        probability=None, thresholds=model.thresholds, explanation=None, scheme=scheme)
    rule = Rule.IDENTIFIER_CONFLICT_SHARED if children else Rule.NO_CANDIDATES
    return Decision(outcome=Outcome.NEW, rule=rule, ref=None, weight=None, probability=None,
                    thresholds=model.thresholds, explanation=None, scheme=scheme)
