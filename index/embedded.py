"""The embedded search backend: blocking keys in the store's own database, rapidfuzz ranking.

Candidates come from `search_keys`, a table of 64-bit hashes of composite keys such as "date of
birth + phonetic family name" or "postcode + given name". Each child gets several such keys so
that one mistake in any single field (a typo, a short form, a swapped day and month) still
leaves a key it shares with the query; the query side expands its date of birth into the dates
it may really be (`index.keys.date_variants`) and its given name into the names it may be short
for. One `IN (...)` lookup finds the candidates; a cheap pre-score (how many, and which, keys a
candidate shares) caps their number; the survivors are scored field by field with rapidfuzz
against the weights in `FIELD_WEIGHTS`. When nothing scores well, a second, broader lookup
(every child born that day, every child at that postcode, and for a search with a date of birth
every child with a phonetically equal family and given name) runs before giving up, so that two
mistakes in the names, or a date too far from the stored one for the first lookup (a mistyped
date of birth searched against a record that has a mistake of its own) still find the child.

Which children are searchable: those whose status is live or deceased. A deceased child's
record stays live for a year (DESIGN.md) and practitioners need to find it in that time;
archived children are visible to the LA data team only and through the store, never through
search, so they get no keys and are filtered out at query time as well (a child archived since
it was last indexed is not returned).

Works unchanged on SQLite and PostgreSQL: the SQL is SQLAlchemy Core over the shared models.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from rapidfuzz.distance import OSA, JaroWinkler
from sqlalchemy import Connection, Engine, delete, select

from index import identifiers
from index import models as m
from index.identifiers import Scheme
from index.keys import (
    date_likeness,
    date_variants,
    given_name_forms,
    name_prefixes,
    name_tokens,
    phonetic,
    phonetic_codes,
    postcode_parts,
)
from index.search import (
    EVERYTHING,
    MAX_RESULTS,
    Disclosure,
    Evidence,
    SearchHit,
    SearchHits,
    SearchQuery,
    sufficient,
)
from index.store import chunked, driver_executemany, driver_rows, inline_integers, param_mark
from index.vocabulary import AddressStatus, ChildStatus, Gender, NameKind

SEARCHABLE_STATUSES: tuple[ChildStatus, ...] = (ChildStatus.LIVE, ChildStatus.DECEASED)

# Children read and (re)keyed per transaction by `index_children`.
INDEX_BATCH = 5000
# Candidates scored per lookup, the best by pre-score; the rest are dropped unscored.
CANDIDATE_CAP = 150
# Candidates of the broad second lookup (everyone born that day or living at that postcode).
BROAD_CAP = 3000
# Below this best score the broad lookup runs too.
STRONG_SCORE = 0.86
# Hits scoring below this are not returned: they share a key but little else.
MIN_SCORE = 0.45

# A former UPN is the same number space as a UPN: a search by either finds both.
_KEY_SCHEME = {Scheme.FORMER_UPN: Scheme.UPN}

# Composite keys: (name, fields) -> pre-score weight of a shared key. "d" is a date of birth
# (yyyymmdd), "p" a postcode unit; the second part is family phonetic ("fp"), family prefix
# ("fx"), given name form ("gf"), given phonetic ("gp"), postcode sector ("ps"), or nothing.
# "n" keys (family phonetic + given phonetic, no date or place) serve the broad lookup only,
# where every shared key weighs 1.
KEY_WEIGHTS: dict[str, float] = {
    "fp": 3.0,
    "fx": 2.0,
    "gf": 2.0,
    "gp": 1.5,
    "ps": 1.5,
    "id": 10.0,
}
# A key reached through a mistyped-date variant counts for less than one on the exact date.
VARIANT_DATE_FACTOR = 0.5

# Scoring: the weight of each field; a field the query does not give is left out.
FIELD_WEIGHTS: dict[str, float] = {
    "identifier": 4.0,
    "family": 3.0,
    "dob": 3.0,
    "given": 2.0,
    "postcode": 2.0,
    "gender": 0.5,
}
# Levels of `index.keys.date_likeness`: how likely the query's date is a mistake for the child's.
DOB_LEVELS: dict[str, float] = {
    "exact": 1.0,
    "next_day": 0.8,
    "swapped": 0.8,
    "one_edit": 0.75,
    "close": 0.5,
    "two_edits": 0.3,
    "far": 0.0,
}
# Postcode levels, best first: the query's postcode against each of the child's addresses.
POSTCODE_LEVELS: tuple[tuple[int, float], ...] = ((0, 1.0), (1, 0.55), (2, 0.3), (3, 0.1))
# How a name matched, as a factor on its similarity: a part of a double-barrelled name or a
# former name is good evidence, a little less than the current name in full.
NAME_MATCH_FACTORS: dict[str, float] = {
    "current": 1.0,
    "preferred": 1.0,
    "alternative": 0.97,
    "former": 0.97,
    "part": 0.95,
    "short_form": 0.9,
    "middle": 0.8,
    "initial": 0.6,
}
# String similarities at or below this floor count as no match at all.
SIMILARITY_FLOOR = 0.7
# One typed letter wrong, missing or swapped in a name of up to three letters ('Ivy' typed 'vy',
# 'Ava' typed 'Aav') is one edit in three, under the floor; it still says more than an unrelated
# name, so it counts this much (a little above the floor).
SHORT_NAME_ONE_EDIT = 0.75
SHORT_NAME = 3
ADDRESS_FACTORS: dict[str, float] = {
    AddressStatus.CURRENT.value: 1.0,
    AddressStatus.LAST_KNOWN.value: 0.95,
}
PAST_ADDRESS_FACTOR = 0.9
GENDER_LEVELS: dict[str, float] = {"same": 1.0, "unknown": 0.5, "different": 0.0}


# A searchable child is at most 25 (DESIGN.md: live until 18, 25 for care leavers): a variant of a
# mistyped date of birth further back than this, or in the future, cannot be anyone's.
PLAUSIBLE_AGE_YEARS = 30


def _plausible_variants(date: dt.date, today: dt.date | None = None) -> tuple[str, ...]:
    """The query date and its plausible variants as yyyymmdd, the query date first."""
    return _plausible_ymds(date, today or dt.date.today())


@functools.lru_cache(maxsize=20_000)
def _plausible_ymds(date: dt.date, today: dt.date) -> tuple[str, ...]:
    oldest = today.replace(year=today.year - PLAUSIBLE_AGE_YEARS, day=min(today.day, 28))
    others = sorted(d for d in date_variants(date) if d != date and oldest <= d <= today)
    return tuple(_ymd(d) for d in (date, *others))


def key_hash(text: str) -> int:
    """A signed 64-bit hash of a key string: a BIGINT in both SQLite and PostgreSQL."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big", signed=True)


def child_number_key(number: str) -> int:
    """The key hash by which a child is found by its child number (one of `child_keys`): the
    one key that differs between two stores that hold the same children under other random
    numbers (tests compare stores without it)."""
    return key_hash(f"id|{Scheme.CHILD_NUMBER.value}|{number}")


def _ymd(date: dt.date) -> str:
    return f"{date.year:04d}{date.month:02d}{date.day:02d}"


def _name_parts(
    family_names: Iterable[str | None], given_names: Iterable[str | None]
) -> dict[str, list[str]]:
    """The name parts of composite keys, from all of a child's (or a query's) names."""
    family = list(family_names)
    given = [g for g in given_names if g]
    parts: dict[str, list[str]] = {
        "fp": [c for f in family for c in phonetic_codes(f)],
        "fx": [p for f in family for p in name_prefixes(f)],
        "gf": [form for g in given for form in given_name_forms(g)],
        "gp": [],
    }
    parts["gp"] = [phonetic(form) for form in parts["gf"]]
    return {kind: list(dict.fromkeys(values)) for kind, values in parts.items()}


def _name_pairs(parts: dict[str, list[str]]) -> list[str]:
    """The name-only keys of the broad lookup: phonetic family name with phonetic given name."""
    return [f"n|{family}|{given}" for family in parts["fp"] for given in parts["gp"]]


def name_pair_keys(family_names: Iterable[str | None], given_names: Iterable[str | None]) -> set[int]:
    """The key hashes of a child's name pairs alone (the part of `child_keys` added in schema
    revision 0007, which gives them to children keyed before)."""
    return {key_hash(k) for k in _name_pairs(_name_parts(family_names, given_names))}


def child_keys(
    *,
    date_of_birth: dt.date | None,
    family_names: Iterable[str | None],
    given_names: Iterable[str | None],
    postcodes: Iterable[str | None],
    identifier_values: Iterable[tuple[Scheme, str]],
    name_pairs: bool = True,
    date_alone: bool = True,
) -> set[int]:
    """Every key hash of one child, from its names (all kinds), addresses and identifiers.
    `name_pairs=False` leaves out the name-only keys, which only the broad lookup uses;
    `date_alone=False` the key of everyone born that day, for lookups that pass over keys held
    by hundreds (it is, from a few hundred thousand children up)."""
    keys: set[str] = set()
    # No date (a service-feed row without a usable one, looking for its child): no date keys.
    dob = _ymd(date_of_birth) if date_of_birth is not None else None
    parts = _name_parts(family_names, given_names)
    if name_pairs:
        keys.update(_name_pairs(parts))
    units = [p for p in (postcode_parts(pc) for pc in postcodes) if p]
    if date_alone and dob is not None:
        keys.add(f"d|{dob}|-")
    for kind, values in parts.items():
        if dob is not None:
            keys.update(f"d|{dob}|{kind}|{v}" for v in values)
        keys.update(f"p|{unit[0]}|{kind}|{v}" for unit in units for v in values)
    for unit in units:
        keys.add(f"p|{unit[0]}|-")
        if dob is not None:
            keys.add(f"d|{dob}|ps|{unit[1]}")
    for scheme, value in identifier_values:
        keys.add(f"id|{_KEY_SCHEME.get(scheme, scheme).value}|{value}")
    return {key_hash(k) for k in keys}


@dataclass(frozen=True)
class _Query:
    """A checked query, normalised once for key building and scoring."""

    identifier: tuple[Scheme, str] | None
    family: str | None
    family_tokens: tuple[str, ...]
    given: str | None
    given_forms: frozenset[str]
    dob: dt.date | None
    postcode: tuple[str, str, str, str] | None
    gender: Gender | None
    owning_la: str | None
    disclosure: Disclosure
    for_matching: bool

    @classmethod
    def of(cls, query: SearchQuery) -> _Query:
        query.check()
        identifier = None
        if query.identifier is not None:
            scheme, value = query.identifier
            identifier = (Scheme(scheme), identifiers.validate(scheme, value).value)
        family_tokens = tuple(name_tokens(query.family_name))
        given_tokens = name_tokens(query.given_name)
        return cls(
            identifier=identifier,
            family="".join(family_tokens) or None,
            family_tokens=family_tokens,
            given=given_tokens[0] if given_tokens else None,
            given_forms=given_name_forms(query.given_name),
            dob=query.date_of_birth,
            postcode=postcode_parts(query.postcode),
            gender=Gender(query.gender) if query.gender else None,
            owning_la=query.owning_la,
            disclosure=query.disclosure,
            for_matching=query.for_matching,
        )

    def keys(self) -> dict[int, float]:
        """The precise lookup: key hash -> pre-score weight of sharing it."""
        weighted: dict[str, float] = {}
        if self.identifier is not None:
            # An identifier search finds that identifier only; any other fields just rank.
            scheme, value = self.identifier
            weighted[f"id|{_KEY_SCHEME.get(scheme, scheme).value}|{value}"] = KEY_WEIGHTS["id"]
        elif self.family:
            parts = self.name_parts
            if self.dob is not None:
                exact = _ymd(self.dob)
                for ymd in _plausible_variants(self.dob):
                    factor = 1.0 if ymd == exact else VARIANT_DATE_FACTOR
                    for kind, values in parts.items():
                        for v in values:
                            weighted[f"d|{ymd}|{kind}|{v}"] = KEY_WEIGHTS[kind] * factor
                if self.postcode:
                    weighted[f"d|{exact}|ps|{self.postcode[1]}"] = KEY_WEIGHTS["ps"]
            if self.postcode:
                for kind, values in parts.items():
                    for v in values:
                        weighted[f"p|{self.postcode[0]}|{kind}|{v}"] = KEY_WEIGHTS[kind]
        return {key_hash(k): w for k, w in weighted.items()}

    def broad_keys(self) -> dict[int, float]:
        """The broad lookup: everyone born on the day, everyone at the postcode, everyone with
        the same names by sound."""
        keys: dict[str, float] = {}
        if self.identifier is not None:
            return {}
        if self.family and self.dob is not None:
            keys[f"d|{_ymd(self.dob)}|-"] = 1.0
        if self.family and self.postcode:
            keys[f"p|{self.postcode[0]}|-"] = 1.0
        if self.family and self.given and self.dob is not None:
            # Not for a search by postcode: it names the place, and namesakes from elsewhere in
            # the sector would outrank a child at that very postcode whose name was mistyped.
            keys.update(dict.fromkeys(_name_pairs(self.name_parts), 1.0))
        return {key_hash(k): w for k, w in keys.items()}

    @property
    def family_name_text(self) -> str:
        return " ".join(self.family_tokens)

    @functools.cached_property
    def name_parts(self) -> dict[str, list[str]]:
        """The query's name parts of composite keys, built once for both lookups."""
        return _name_parts([self.family_name_text], [self.given] if self.given else [])


@dataclass(frozen=True)
class _NameRow:
    """One of a candidate's names, folded and split once (names repeat: the cache is hot)."""

    factor: float
    given: str | None  # first given name, folded
    middle: tuple[str, ...]
    family: str | None  # whole family name, folded, separators removed
    family_tokens: tuple[str, ...]
    family_codes: frozenset[str]  # phonetic codes of the whole family name and of its words


@functools.lru_cache(maxsize=200_000)
def _name_row(kind: str, given: str | None, middle: str | None, family: str | None) -> _NameRow:
    given_tokens = name_tokens(given)
    family_tokens = tuple(name_tokens(family))
    return _NameRow(
        factor=NAME_MATCH_FACTORS[kind],
        given=given_tokens[0] if given_tokens else None,
        middle=tuple(name_tokens(middle)),
        family="".join(family_tokens) or None,
        family_tokens=family_tokens,
        family_codes=frozenset(phonetic_codes(family)),
    )


_forms = functools.lru_cache(maxsize=100_000)(given_name_forms)


@dataclass
class _Candidate:
    child_id: int
    date_of_birth: dt.date
    gender: str
    child_number: str
    owning_la: str = ""
    shielded: bool = False
    opted_out: bool = False  # from sharing with the searcher's type of service
    names: list[_NameRow] = field(default_factory=list)
    postcodes: list[tuple[tuple[str, str, str, str], float]] = field(default_factory=list)
    identifiers: set[tuple[str, str]] = field(default_factory=set)


def _similarity(a: str, b: str) -> float:
    """String similarity rescaled so that the floor and below are 0 and identical strings 1.

    Jaro-Winkler, or one minus the share of edits (OSA, a transposition is one edit) when that
    is higher: Jaro-Winkler punishes a mistake in the first letters of a short name hard.
    """
    sim = max(JaroWinkler.normalized_similarity(a, b), OSA.normalized_similarity(a, b))
    if sim < SHORT_NAME_ONE_EDIT and min(len(a), len(b)) <= SHORT_NAME and OSA.distance(a, b) == 1:
        sim = SHORT_NAME_ONE_EDIT
    return max(0.0, (sim - SIMILARITY_FLOOR) / (1.0 - SIMILARITY_FLOOR))


def _score_identifier(q: _Query, c: _Candidate) -> float | None:
    if q.identifier is None:
        return None
    scheme, value = q.identifier
    if scheme is Scheme.CHILD_NUMBER:
        return 1.0 if c.child_number == value else 0.0
    if (scheme.value, value) in c.identifiers:
        return 1.0
    same_space = {s.value for s, target in _KEY_SCHEME.items() if target is scheme}
    same_space |= {target.value for s, target in _KEY_SCHEME.items() if s is scheme}
    if any((s, value) in c.identifiers for s in same_space):
        return 0.9
    return 0.0


def _score_family(q: _Query, c: _Candidate) -> float | None:
    if not q.family:
        return None
    best = 0.0
    for name in c.names:
        if not name.family:
            continue
        best = max(best, name.factor * _similarity(q.family, name.family))
        if len(name.family_tokens) > 1 or len(q.family_tokens) > 1:
            part = max(
                _similarity(a, b)
                for a in (q.family, *q.family_tokens)
                for b in (name.family, *name.family_tokens)
            )
            best = max(best, name.factor * NAME_MATCH_FACTORS["part"] * part)
    return best


def _score_given(q: _Query, c: _Candidate) -> float | None:
    if not q.given:
        return None
    best = 0.0
    for name in c.names:
        first = name.given
        if first:
            if len(q.given) == 1 or len(first) == 1:
                if q.given[0] == first[0]:
                    best = max(best, name.factor * NAME_MATCH_FACTORS["initial"])
                continue
            sim = _similarity(q.given, first)
            if sim < 1.0 and q.given_forms & _forms(first):
                sim = max(sim, NAME_MATCH_FACTORS["short_form"])
            best = max(best, name.factor * sim)
        if name.middle and len(q.given) > 1:
            sim = max(_similarity(q.given, t) for t in name.middle)
            best = max(best, NAME_MATCH_FACTORS["middle"] * sim)
    return best


def _score_dob(q: _Query, c: _Candidate) -> float | None:
    if q.dob is None:
        return None
    return DOB_LEVELS[date_likeness(q.dob, c.date_of_birth)]


def _score_postcode(q: _Query, c: _Candidate) -> float | None:
    if q.postcode is None:
        return None
    best = 0.0
    for parts, factor in c.postcodes:
        for position, value in POSTCODE_LEVELS:
            if parts[position] == q.postcode[position]:
                best = max(best, factor * value)
                break
    return best


def _score_gender(q: _Query, c: _Candidate) -> float | None:
    if q.gender is None or q.gender is Gender.UNSPECIFIED:
        return None
    if c.gender == Gender.UNSPECIFIED.value:
        return GENDER_LEVELS["unknown"]
    return GENDER_LEVELS["same" if c.gender == q.gender.value else "different"]


SCORERS: dict[str, Callable[[_Query, _Candidate], float | None]] = {
    "identifier": _score_identifier,
    "family": _score_family,
    "dob": _score_dob,
    "given": _score_given,
    "postcode": _score_postcode,
    "gender": _score_gender,
}


def _identifier_evidence(q: _Query) -> Evidence:
    scheme, value = q.identifier or (None, "")
    if scheme is Scheme.CHILD_NUMBER:
        serial = identifiers.is_serial_child_number(value)
        return Evidence.SERIAL_CHILD_NUMBER if serial else Evidence.CHILD_NUMBER
    return Evidence.IDENTIFIER


# The evidence each scored field is (what a searcher must be shown for it to count or rank).
FIELD_EVIDENCE: dict[str, Callable[[_Query], Evidence]] = {
    "identifier": _identifier_evidence,
    "family": lambda _q: Evidence.NAME,
    "given": lambda _q: Evidence.NAME,
    "dob": lambda _q: Evidence.DATE_OF_BIRTH,
    "postcode": lambda _q: Evidence.POSTCODE,
    "gender": lambda _q: Evidence.GENDER,
}


def matchable(q: _Query, c: _Candidate) -> frozenset[Evidence]:
    """What this candidate may be matched on by this searcher (the query's disclosure, which
    the view policy built): everything, or what a shield or an opt-out leaves shown."""
    d = q.disclosure
    if q.for_matching or (d.full_la is not None and c.owning_la == d.full_la):
        return EVERYTHING
    if c.shielded:
        return d.shielded
    if c.opted_out:
        return d.opted_out
    return EVERYTHING


def score(q: _Query, c: _Candidate, allowed: frozenset[Evidence] = EVERYTHING) -> float:
    """Weighted mean of the per-field similarities the query allows, in 0..1: only fields the
    searcher may match this candidate on count (a shielded child's postcode does not rank it)."""
    total = weights = 0.0
    for name, scorer in SCORERS.items():
        if FIELD_EVIDENCE[name](q) not in allowed:
            continue
        value = scorer(q, c)
        if value is None:
            continue
        weight = FIELD_WEIGHTS[name]
        total += weight * value
        weights += weight
    return total / weights if weights else 0.0


# A name agrees as evidence only where the query holds most of it: Jaro-Winkler rewards a shared
# beginning, so two or three letters ("Ha" for Hartwick) would agree with every name they begin,
# and a made-up family name with a real date of birth would list, a prefix at a time, everyone
# born that day (second attack test). A dropped or doubled letter, a part of a double-barrelled
# name and a former name still agree; ranking (`score`) is unchanged.
NAME_COVERED = 0.6


def _covers(a: str, b: str) -> bool:
    return min(len(a), len(b)) >= NAME_COVERED * max(len(a), len(b))


def _family_agrees(q: _Query, c: _Candidate) -> bool:
    """The family name is alike (edits, a part, a former name), covering most of it, or sounds
    the same."""
    if not q.family:
        return False
    codes = set(q.name_parts["fp"])
    for name in c.names:
        if not name.family:
            continue
        pairs = [(q.family, name.family)]
        if len(name.family_tokens) > 1 or len(q.family_tokens) > 1:
            pairs += [(a, b) for a in (q.family, *q.family_tokens)
                      for b in (name.family, *name.family_tokens)]
        if any(_covers(a, b) and _similarity(a, b) > 0.0 for a, b in pairs) or codes & name.family_codes:
            return True
    return False


def _given_agrees(q: _Query, c: _Candidate) -> bool:
    """A given or middle name of two letters or more that is alike (covering most of it) or a
    known short form."""
    if not q.given or len(q.given) < 2:
        return False
    for name in c.names:
        if name.given and len(name.given) > 1 and (
                (_covers(q.given, name.given) and _similarity(q.given, name.given) > 0.0)
                or q.given_forms & _forms(name.given)):
            return True
        if any(_covers(q.given, t) and _similarity(q.given, t) > 0.0 for t in name.middle):
            return True
    return False


def agreement(q: _Query, c: _Candidate) -> frozenset[Evidence]:
    """What the candidate agrees with the query on, as `index.search.Evidence`."""
    agreed: set[Evidence] = set()
    if (_score_dob(q, c) or 0.0) > 0.0:
        agreed.add(Evidence.DATE_OF_BIRTH)
    if q.postcode is not None and any(
            parts[0] == q.postcode[0] or parts[1] == q.postcode[1] for parts, _factor in c.postcodes):
        agreed.add(Evidence.POSTCODE)
    # The family name is the name (DESIGN.md: "surname plus date of birth or postcode"). A given
    # name alone stands in for it (a family name since changed) only beside the child's very
    # postcode, or both a date of birth and a postcode, that the searcher may match it on: else
    # a made-up family name, a common given name and a date of birth list every child of that
    # name born that day.
    allowed = matchable(q, c)
    unit = q.postcode is not None and any(parts[0] == q.postcode[0] for parts, _factor in c.postcodes)
    placed = Evidence.POSTCODE in allowed and (
        unit or {Evidence.DATE_OF_BIRTH, Evidence.POSTCODE} <= agreed & allowed)
    if _family_agrees(q, c) or (placed and _given_agrees(q, c)):
        agreed.add(Evidence.NAME)
    if (_score_identifier(q, c) or 0.0) >= 0.9:
        agreed.add(_identifier_evidence(q))
    return frozenset(agreed)


@dataclass(frozen=True)
class Assessed:
    """A candidate's score over what may be matched, and whether it may be shown."""

    score: float
    shown: bool


def assess(q: _Query, candidates: Iterable[_Candidate]) -> dict[int, Assessed]:
    """Score each candidate and apply the evidence rule (index.search.SUFFICIENT_EVIDENCE) on
    what the searcher may match it on: the one place both backends decide what is returned."""
    assessed: dict[int, Assessed] = {}
    for c in candidates:
        allowed = matchable(q, c)
        value = score(q, c, allowed)
        shown = q.for_matching or (value >= MIN_SCORE and sufficient(agreement(q, c) & allowed))
        assessed[c.child_id] = Assessed(value, shown)
    return assessed


def ranked_hits(assessed: dict[int, Assessed], limit: int) -> SearchHits:
    """The shown candidates scoring at least MIN_SCORE, best first (ties by id), and how many
    scored that well but were withheld."""
    ranked = sorted(
        ((a.score, child_id) for child_id, a in assessed.items() if a.shown and a.score >= MIN_SCORE),
        key=lambda pair: (-pair[0], pair[1]))
    withheld = sum(1 for a in assessed.values() if not a.shown and a.score >= MIN_SCORE)
    return SearchHits(tuple(SearchHit(child_id=c, score=round(s, 4)) for s, c in ranked[:limit]), withheld)


def best_shown(assessed: dict[int, Assessed]) -> float:
    return max((a.score for a in assessed.values() if a.shown), default=0.0)


class EmbeddedSearch:
    """The search backend inside the store's own database (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # -- indexing ---------------------------------------------------------------------------

    def index_children(self, child_ids: Iterable[int]) -> None:
        """(Re)build the keys of these children: their old keys are replaced; archived or
        unknown children are left with none."""
        for chunk in chunked(sorted(set(child_ids)), INDEX_BATCH):
            with self._engine.begin() as conn:
                self._rekey(conn, chunk)

    def shares_store(self, bind: Engine | Connection) -> bool:
        """Whether `bind` is the database this backend keeps its keys in."""
        return bind.engine.url == self._engine.url

    def index_in(self, conn: Connection, child_ids: Iterable[int]) -> None:
        """`index_children` on the caller's connection, inside its transaction: the keys commit
        or roll back with the change that caused them, and no outbox row is needed."""
        for chunk in chunked(sorted(set(child_ids)), INDEX_BATCH):
            self._rekey(conn, chunk)

    def _rekey(self, conn: Connection, chunk: Sequence[int]) -> None:
        # Only the keys that changed are written. Keys are hashes, so each sits at a random
        # place in the key b-tree and every row written or deleted dirties a page of its own: a
        # child who moved changes its few postcode keys, and rewriting its other dozen cost the
        # nightly run more than matching it did.
        wanted = set(self._key_pairs(conn, chunk))
        table = m.SearchKey.__table__
        mark, name = param_mark(conn), table.name
        held = {(key, child_id) for key, child_id in driver_rows(
            conn, f"SELECT key, child_id FROM {name} WHERE child_id IN ({inline_integers(chunk)})")}
        if gone := sorted(held - wanted):
            driver_executemany(conn, f"DELETE FROM {name} WHERE key = {mark} AND child_id = {mark}", gone)
        # Sorted inserts touch the key b-tree in order: much faster for bulk loads.
        if added := sorted(wanted - held):
            driver_executemany(conn, f"INSERT INTO {name} (key, child_id) VALUES ({mark}, {mark})", added)

    def index_all(self) -> int:
        """(Re)index every child in the store, in id order; returns how many were read."""
        count = 0
        last = 0
        while True:
            with self._engine.connect() as conn:
                ids = list(conn.scalars(
                    select(m.Child.id).where(m.Child.id > last).order_by(m.Child.id).limit(INDEX_BATCH)
                ))
            if not ids:
                return count
            self.index_children(ids)
            count += len(ids)
            last = ids[-1]

    def remove_children(self, child_ids: Iterable[int]) -> None:
        ids = sorted(set(child_ids))
        for chunk in chunked(ids, INDEX_BATCH):
            with self._engine.begin() as conn:
                conn.execute(delete(m.SearchKey).where(m.SearchKey.child_id.in_(chunk)))

    @staticmethod
    def _key_pairs(conn: Connection, chunk: Sequence[int]) -> list[tuple[int, int]]:
        children = conn.execute(
            select(m.Child.id, m.Child.date_of_birth, m.Child.child_number).where(
                m.Child.id.in_(chunk), m.Child.status.in_(SEARCHABLE_STATUSES)
            )
        ).all()
        names: dict[int, list[tuple[str | None, str | None]]] = defaultdict(list)
        for child_id, given, family in conn.execute(
            select(m.ChildName.child_id, m.ChildName.given_name, m.ChildName.family_name).where(
                m.ChildName.child_id.in_(chunk)
            )
        ):
            names[child_id].append((given, family))
        postcodes: dict[int, list[str]] = defaultdict(list)
        for child_id, postcode in conn.execute(
            select(m.ChildAddress.child_id, m.ChildAddress.postcode).where(
                m.ChildAddress.child_id.in_(chunk), m.ChildAddress.postcode.is_not(None)
            )
        ):
            postcodes[child_id].append(postcode)
        idents: dict[int, list[tuple[Scheme, str]]] = defaultdict(list)
        for child_id, scheme, value in conn.execute(
            select(m.ChildIdentifier.child_id, m.ChildIdentifier.scheme, m.ChildIdentifier.value).where(
                m.ChildIdentifier.child_id.in_(chunk)
            )
        ):
            idents[child_id].append((Scheme(scheme), value))
        rows: list[tuple[int, int]] = []
        for child_id, dob, child_number in children:
            keys = child_keys(
                date_of_birth=dob,
                family_names=[f for _g, f in names[child_id]],
                given_names=[g for g, _f in names[child_id]],
                postcodes=postcodes[child_id],
                identifier_values=[*idents[child_id], (Scheme.CHILD_NUMBER, child_number)],
            )
            rows.extend((k, child_id) for k in keys)
        return rows

    # -- searching --------------------------------------------------------------------------

    def search(self, query: SearchQuery, limit: int = MAX_RESULTS) -> SearchHits:
        """Ranked candidates, best first, at most `min(limit, MAX_RESULTS)`, scores in 0..1."""
        q = _Query.of(query)
        limit = max(0, min(limit, MAX_RESULTS))
        if limit == 0:
            return SearchHits()
        assessed = self._lookup_and_score(q, q.keys(), CANDIDATE_CAP, exclude=set())
        if best_shown(assessed) < STRONG_SCORE and (broad := q.broad_keys()):
            assessed |= self._lookup_and_score(q, broad, BROAD_CAP, exclude=set(assessed))
        return ranked_hits(assessed, limit)

    def _lookup_and_score(
        self, q: _Query, keys: dict[int, float], cap: int, exclude: set[int]
    ) -> dict[int, Assessed]:
        if not keys:
            return {}
        sql = _LOOKUP.format(keys=inline_integers(keys))
        with self._engine.connect() as conn:
            # Straight to the driver: the SQL differs every time (inline integers), so
            # SQLAlchemy's compiled cache never hits and compiling cost more than the lookup.
            params: tuple[str, ...] = ()
            if q.owning_la is not None:
                sql += " AND c.owning_la = " + ("?" if conn.dialect.paramstyle == "qmark" else "%s")
                params = (q.owning_la,)
            found = conn.exec_driver_sql(sql, params).fetchall()
            prescore: dict[int, float] = defaultdict(float)
            candidates: dict[int, _Candidate] = {}
            for child_id, key, dob, gender, child_number, owning_la, shielded in found:
                if child_id in exclude:
                    continue
                prescore[child_id] += keys[key]
                if child_id not in candidates:
                    candidates[child_id] = _Candidate(child_id, _date(dob), str(gender), child_number,
                                                      owning_la, bool(shielded))
            if len(candidates) > cap:
                keep = sorted(prescore, key=lambda c: (-prescore[c], c))[:cap]
                candidates = {c: candidates[c] for c in keep}
            if not candidates:
                return {}
            self._fill(conn, q, candidates)
        return assess(q, candidates.values())

    @staticmethod
    def _fill(conn: Connection, q: _Query, candidates: dict[int, _Candidate]) -> None:
        ids = inline_integers(candidates)
        for child_id, kind, given, middle, family in conn.exec_driver_sql(_NAMES.format(ids=ids)):
            candidates[child_id].names.append(_name_row(NameKind(kind).value, given, middle, family))
        if q.postcode is not None:
            for child_id, status, postcode, ended in conn.exec_driver_sql(_POSTCODES.format(ids=ids)):
                parts = postcode_parts(postcode)
                if parts is None:
                    continue
                factor = ADDRESS_FACTORS.get(AddressStatus(status).value, PAST_ADDRESS_FACTOR)
                if ended:
                    factor = min(factor, PAST_ADDRESS_FACTOR)
                candidates[child_id].postcodes.append((parts, factor))
        if q.identifier is not None and q.identifier[0] is not Scheme.CHILD_NUMBER:
            for child_id, scheme, value in conn.exec_driver_sql(_IDENTIFIERS.format(ids=ids)):
                candidates[child_id].identifiers.add((Scheme(scheme).value, value))
        service = q.disclosure.service_type
        if service is not None and not q.for_matching:
            mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
            for (child_id,) in conn.exec_driver_sql(_OPTED_OUT.format(ids=ids, mark=mark), (service,)):
                candidates[child_id].opted_out = True


def _date(value: dt.date | str) -> dt.date:
    """A date as the driver returns it: a date (psycopg) or ISO text (sqlite3)."""
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)




_STATUSES = ", ".join(f"'{s.value}'" for s in SEARCHABLE_STATUSES)
_LOOKUP = (
    "SELECT k.child_id, k.key, c.date_of_birth, c.gender, c.child_number, c.owning_la, c.shielded "
    f"FROM {m.SearchKey.__tablename__} k JOIN {m.Child.__tablename__} c ON c.id = k.child_id "
    f"WHERE k.key IN ({{keys}}) AND c.status IN ({_STATUSES})"
)
_NAMES = (
    "SELECT child_id, kind, given_name, middle_names, family_name "
    f"FROM {m.ChildName.__tablename__} WHERE child_id IN ({{ids}})"
)
_POSTCODES = (
    "SELECT child_id, status, postcode, valid_to IS NOT NULL "
    f"FROM {m.ChildAddress.__tablename__} WHERE child_id IN ({{ids}}) AND postcode IS NOT NULL"
)
_IDENTIFIERS = (
    f"SELECT child_id, scheme, value FROM {m.ChildIdentifier.__tablename__} WHERE child_id IN ({{ids}})"
)
_OPTED_OUT = (
    f"SELECT DISTINCT child_id FROM {m.SharingOptOut.__tablename__} "
    "WHERE child_id IN ({ids}) AND service_type = {mark} AND withdrawn_at IS NULL"
)


__all__ = ["EmbeddedSearch", "child_keys", "child_number_key", "key_hash", "name_pair_keys"]
