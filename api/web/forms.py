"""Form input to the API's own request models, and their errors to the Design System's messages.

A form's fields arrive as strings; they are checked by the same pydantic models the JSON API
uses (api.schemas), so a web form accepts exactly what the API accepts. Errors are keyed by the
form field's id (the error summary links to it) and never repeat the value typed.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Form
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

# The Design System's date input names its boxes prefix-day, prefix-month, prefix-year.
Day = Annotated[str, Form(alias="dob-day", max_length=10)]
Month = Annotated[str, Form(alias="dob-month", max_length=10)]
Year = Annotated[str, Form(alias="dob-year", max_length=10)]

# Field of a model -> the form field that holds it, where they differ.
FIELD_IDS = {"date_of_birth": "dob-day", "start_date": "start-day", "end_date": "end-day"}


def blank_to_none(values: dict[str, str | None]) -> dict[str, str]:
    return {k: v.strip() for k, v in values.items() if v is not None and v.strip()}


def date_from(day: str | None, month: str | None, year: str | None) -> dt.date | str | None:
    """A date from the Design System's three boxes; None if all empty, "invalid" if not a date."""
    parts = [p.strip() for p in (day or "", month or "", year or "")]
    if not any(parts):
        return None
    try:
        return dt.date(int(parts[2]), int(parts[1]), int(parts[0]))
    except ValueError:
        return "invalid"


def errors_of(exc: ValidationError | RequestValidationError, messages: dict[str, str]) -> dict[str, str]:
    """{form field id: message}, in the order of the form, one per field."""
    found: dict[str, str] = {}
    for error in exc.errors():
        loc = tuple(error.get("loc", ()))
        if loc[:1] == ("body",):
            loc = loc[1:]
        name = str(loc[0]) if loc else ""
        field = FIELD_IDS.get(name, name.replace("_", "-"))
        found.setdefault(field, messages.get(name, f"Enter a valid {name.replace('_', ' ')}"))
    return found
