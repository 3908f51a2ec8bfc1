"""Identity matching: normalise, block, compare (rapidfuzz), score, decide, explain.

Public surface: the names below. `Person` is the matcher's normalised view of a record;
`COMPARISONS` declares every field's agreement levels as data; `MatchModel` holds the
Fellegi-Sunter parameters and scores pairs with an explanation; `Matcher` decides link,
review or new; `estimate_model` learns m and u from data; `link_lists` / `dedupe_pairs` serve
users' own lists; `matching.review` is the LA data team's queue, merges and splits.
"""

from matching.blocking import BlockingIndex
from matching.comparisons import COMPARISONS, Comparison, Level
from matching.consolidate import provenance_of
from matching.decide import Candidate, Decision, Matcher, Outcome, Rule, Verdict
from matching.estimate import estimate_model, estimate_u, expectation_maximisation
from matching.linkage import ScoredPair, clusters, dedupe_pairs, link_lists
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
    ROW_WARNINGS,
    TRUSTED_SCHEMES,
    Person,
    UnscorableRecord,
    make_person,
    person_from_record,
    person_from_row,
)
from matching.review import (
    ExplainedField,
    ReviewedChild,
    ReviewError,
    ReviewItem,
    decide_review,
    merge_children,
    merged_into,
    open_review,
    person_from_child,
    rescore_open_reviews,
    review_item,
    review_queue,
    split_merge,
    verdict_lookup,
)

__all__ = [
    "COMPARISONS",
    "DEFAULT_MODEL",
    "ROW_COLUMNS",
    "ROW_WARNINGS",
    "TRUSTED_SCHEMES",
    "BlockingIndex",
    "Candidate",
    "Comparison",
    "Decision",
    "ExplainedField",
    "Explanation",
    "FieldWeight",
    "Level",
    "MatchModel",
    "Matcher",
    "Outcome",
    "Person",
    "ReviewError",
    "ReviewItem",
    "ReviewedChild",
    "Rule",
    "ScoredPair",
    "TermFrequencies",
    "Thresholds",
    "UnscorableRecord",
    "Verdict",
    "clusters",
    "decide_review",
    "dedupe_pairs",
    "estimate_model",
    "estimate_u",
    "expectation_maximisation",
    "link_lists",
    "make_person",
    "merge_children",
    "merged_into",
    "open_review",
    "person_from_child",
    "person_from_record",
    "person_from_row",
    "provenance_of",
    "rescore_open_reviews",
    "review_item",
    "review_queue",
    "split_merge",
    "verdict_lookup",
]
