"""Prohibited data is impossible by construction: every column and input field is allow-listed."""

from __future__ import annotations

import re

import pytest
from pydantic import BaseModel

from index import allowlist, records
from index import models as m


def _input_models() -> dict[str, type[BaseModel]]:
    return {
        name: obj for name, obj in vars(records).items()
        if isinstance(obj, type) and issubclass(obj, BaseModel)
        and obj.__module__ == records.__name__ and not name.startswith("_")
    }


def _fragment_pattern() -> re.Pattern[str]:
    # Match a fragment at a word start inside snake_case names, so "sen" catches "sen_status"
    # but not "sent_at"/"consent_basis"; longer fragments match anywhere.
    parts = [f"(^|_){f}($|_)" if len(f) <= 3 else f for f in allowlist.PROHIBITED_NAME_FRAGMENTS]
    return re.compile("|".join(parts))


def test_every_table_and_column_is_allow_listed() -> None:
    actual = {t.name: {c.name for c in t.columns} for t in m.Base.metadata.tables.values()}
    allowed = {t: set(cols) for t, cols in allowlist.ALLOWED_COLUMNS.items() if t != "alembic_version"}
    unknown_tables = set(actual) - set(allowed)
    assert not unknown_tables, f"tables not on the allow-list: {sorted(unknown_tables)}"
    for table, columns in actual.items():
        extra = columns - allowed[table]
        assert not extra, f"{table}: columns not on the allow-list: {sorted(extra)}"
    stale = {t for t in allowed if t not in actual}
    assert not stale, f"allow-list names tables that do not exist: {sorted(stale)}"


def test_every_allow_list_entry_names_a_purpose() -> None:
    for table, columns in allowlist.ALLOWED_COLUMNS.items():
        for column, purpose in columns.items():
            assert purpose in allowlist.PURPOSES, f"{table}.{column}: unknown purpose {purpose!r}"


def test_every_input_model_field_is_allow_listed_and_extra_fields_are_forbidden() -> None:
    models = _input_models()
    assert set(models) == set(allowlist.ALLOWED_INPUT_FIELDS), "input models and allow-list differ"
    for name, model in models.items():
        assert model.model_config.get("extra") == "forbid", f"{name} must forbid unknown fields"
        extra = set(model.model_fields) - allowlist.ALLOWED_INPUT_FIELDS[name]
        assert not extra, f"{name}: fields not on the allow-list: {sorted(extra)}"


@pytest.mark.parametrize("name", ["ethnicity", "sen_status", "fsm_eligible", "attendance_pct",
                                  "ks2_assessment", "case_notes", "medical_flag", "first_language"])
def test_prohibited_names_are_recognised(name: str) -> None:
    assert _fragment_pattern().search(name)


def test_no_column_or_field_name_looks_prohibited() -> None:
    pattern = _fragment_pattern()
    names = [f"{t.name}.{c.name}" for t in m.Base.metadata.tables.values() for c in t.columns]
    names += [f"{n}.{f}" for n, model in _input_models().items() for f in model.model_fields]
    offending = [n for n in names if pattern.search(n.split(".", 1)[1])]
    assert not offending, f"names that look like prohibited data: {offending}"


def test_unknown_input_fields_are_rejected() -> None:
    with pytest.raises(ValueError, match="ethnicity"):
        records.ChildRecord.model_validate({
            "owning_la": "823", "date_of_birth": "2014-05-10",
            "names": [{"family_name": "Smith"}], "ethnicity": "WBRI",
        })
