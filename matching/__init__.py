"""Identity matching: normalise, block, compare (rapidfuzz), score, decide, explain.

Public surface: the names below. `Person` is the matcher's normalised view of a record;
`COMPARISONS` declares every field's agreement levels as data; `MatchModel` holds the
Fellegi-Sunter parameters and scores pairs with an explanation; `Matcher` decides link,
review or new; `estimate_model` learns m and u from data.
"""

from matching.blocking import BlockingIndex
from matching.comparisons import COMPARISONS, Comparison, Level
from matching.decide import Candidate, Decision, Matcher, Outcome, Rule, Verdict
from matching.estimate import estimate_model, estimate_u, expectation_maximisation
from matching.model import (
    DEFAULT_MODEL,
    Explanation,
    FieldWeight,
    MatchModel,
    TermFrequencies,
    Thresholds,
)
from matching.person import (
    ROW_COLUMNS,
    TRUSTED_SCHEMES,
    Person,
    UnscorableRecord,
    make_person,
    person_from_record,
    person_from_row,
)

__all__ = [
    "COMPARISONS",
    "DEFAULT_MODEL",
    "ROW_COLUMNS",
    "TRUSTED_SCHEMES",
    "BlockingIndex",
    "Candidate",
    "Comparison",
    "Decision",
    "Explanation",
    "FieldWeight",
    "Level",
    "MatchModel",
    "Matcher",
    "Outcome",
    "Person",
    "Rule",
    "TermFrequencies",
    "Thresholds",
    "UnscorableRecord",
    "Verdict",
    "estimate_model",
    "estimate_u",
    "expectation_maximisation",
    "make_person",
    "person_from_record",
    "person_from_row",
]
