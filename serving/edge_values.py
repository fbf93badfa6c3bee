"""What the API's edge accepts of a value: dates a deal can hold, names and free text without
control characters or lone surrogates, numbers the models and the store can hold. Python's json
reads `Infinity`, `NaN`, integers of any length and lone surrogates ("\\ud800", which no UTF-8
text can hold), and PostgreSQL refuses NUL in text: values the models and the store cannot take
are refused here, as a 422 naming the field (`serving.schemas` builds the requests from them)."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StringConstraints,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic_core import PydanticCustomError

from forecast.data import validation
from forecast.data.name_text import clean_name


def as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00: before year 1, refused as before 1900
        return value.replace(tzinfo=UTC)


#: A timestamp sent out as RFC 3339 with its zone (the store keeps naive UTC).
UtcDateTime = Annotated[datetime, AfterValidator(as_utc)]

#: How far ahead of this server's clock a deal's own date may lie (clock skew between systems).
DATE_SKEW = timedelta(days=1)


#: The earliest date a deal's own date may take: an earlier one is a CRM's placeholder for no
#: date (0001-01-01 is .NET's), which would make a deal two thousand years old.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)


#: The Unix epoch: the date a CRM's blank date written as 0 reads as (a deal "created" then
#: would be decades in its stage). No deal's own date is exactly that instant.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _plausible(value: datetime) -> datetime:
    if as_utc(value) == EPOCH:
        raise ValueError(
            "is 1970-01-01T00:00:00Z, the Unix epoch: a blank date written as 0 by the CRM, "
            "not a date; send the real date, or leave the field out"
        )
    if as_utc(value) < EARLIEST:
        raise ValueError(
            f"{value.date().isoformat()} is before 1900: a placeholder for no date? send the "
            "real date, or leave the field out"
        )
    return value


def _not_ahead(value: datetime) -> datetime:
    _plausible(value)
    if as_utc(value) > datetime.now(UTC) + DATE_SKEW:
        raise ValueError("lies in the future: a deal is created and moves stage by now")
    return value


#: The start of an ISO 8601 date: text in that form that fails has pydantic's own reason.
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_only(value: object, handler: ValidatorFunctionWrapHandler) -> datetime:
    """A date as pydantic reads it (ISO 8601), or refused naming that form and the text sent:
    a CRM's display form ("11/2/2017") is never guessed, and pydantic's own message ("input is
    too short") names no form to send instead."""
    try:
        parsed: datetime = handler(value)
    except ValidationError:
        if not isinstance(value, str) or _ISO_DAY.match(value.strip()):
            raise  # not text, or in the form with a day that is none (2024-02-30): said so
        raise PydanticCustomError(
            "date_form",
            "must be an ISO 8601 date, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS with an optional Z or "
            "+01:00 zone, not the text {text}: a date in another form is never guessed",
            {"text": repr(value[:40])},
        ) from None
    return parsed


#: A date of something that happened to a deal: not after now.
PastDateTime = Annotated[datetime, WrapValidator(_iso_only), AfterValidator(_not_ahead)]
#: A deal's date the CRM holds (an expected close may lie ahead): not before 1900.
DealDateTime = Annotated[datetime, WrapValidator(_iso_only), AfterValidator(_plausible)]

#: The largest magnitude of a number sent in: far above any real amount, far below overflow
#: (the one bound the import and the CLI apply too).
MAX_NUMBER = validation.MAX_NUMBER

#: The characters a name or an id refuses (every control character), and those free text
#: refuses (all but tab, newline and carriage return): as classes for a regular expression.
NOT_IN_NAMES = r"\x00-\x1f"
NOT_IN_TEXT = r"\x00-\x08\x0b\x0c\x0e-\x1f"
_CONTROL = re.compile(f"[{NOT_IN_NAMES}]")
_CONTROL_IN_TEXT = re.compile(f"[{NOT_IN_TEXT}]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


#: Any character either rule refuses: one scan clears the usual value (names and short text).
_SUSPECT = re.compile(r"[\x00-\x1f\ud800-\udfff]")


def _refuse_control(value: str, pattern: re.Pattern[str], allowed: str) -> str:
    if _SUSPECT.search(value) is None:  # the usual case: one scan, nothing to say
        return value
    found = pattern.search(value)
    if found:
        raise ValueError(
            f"contains the control character U+{ord(found.group()):04X} at position "
            f"{found.start()}; {allowed}"
        )
    found = _SURROGATE.search(value)
    if found:
        raise ValueError(
            f"contains a lone surrogate, U+{ord(found.group()):04X}, at position "
            f"{found.start()}: half of a character, which UTF-8 text cannot hold"
        )
    return value


def single_line(value: str) -> str:
    """A name or an id: no control characters at all (NUL, tab, newline, escape, ...) and no
    lone surrogate."""
    return _refuse_control(value, _CONTROL, "names and ids take none")


def free_text(value: str) -> str:
    """Free text: tab, newline and carriage return allowed, no other control character, no lone
    surrogate."""
    return _refuse_control(value, _CONTROL_IN_TEXT, "text may hold only tab and line breaks")


def sane_value(value: object) -> object:
    """A free value: a finite number of magnitude up to MAX_NUMBER, or `free_text`."""
    if isinstance(value, str):
        return free_text(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        # abs() and the comparison are exact for an int of any length; isfinite() is not
        if (isinstance(value, float) and not math.isfinite(value)) or abs(value) > MAX_NUMBER:
            raise ValueError(
                "must be a finite number between -1e15 and 1e15 (Infinity, NaN and larger "
                "numbers cannot be scored)"
            )
    return value


def trimmed(value: object) -> object:
    """A group's name (a team, a rep, a region...) as the import reads it (`clean_name`):
    spaces around it are not part of it (" Team Novak " is Team Novak, not a team of its own
    that no target can name), nor are zero-width characters; a no-break space is a space and
    an NFD "Zoë" the NFC one; one of spaces alone is blank. Checked as a `Name` first: a tab
    or a line break is a control character, refused, not a space to trim."""
    return (clean_name(single_line(value)) or None) if isinstance(value, str) else value


def cleaned_name(value: str) -> str:
    """A name as sent, read as the import reads the export's names (`clean_name`): a stage's,
    or a target's group, so an NFD "Zoë" or a no-break space names what the deals name."""
    return clean_name(single_line(value))


#: A name or id: one line, no control characters.
Name = Annotated[str, AfterValidator(single_line)]
#: A name that groups deals (team, rep, product, account; region, sector... the short ones):
#: a `Name` (checked by `trimmed`) of at most 200 (100) characters, or none.
GroupName = Annotated[
    Annotated[str, StringConstraints(max_length=200)] | None,
    BeforeValidator(trimmed),
]
ShortGroupName = Annotated[
    Annotated[str, StringConstraints(max_length=100)] | None,
    BeforeValidator(trimmed),
]


def number_in(value: object) -> object:
    """A number field's value as sent, before pydantic reads it as a float: true and false are
    refused (lax parsing would store `true` as 1.0, a 100% rep call), and text Python does not
    read as a number ("1,234.50", "$500") is refused showing it. The notation of the dataset's
    export is not known before the push names its dataset, and "1,234" means 1.234 in a
    decimal-comma one: a CRM sends a JSON number. Text like "1234.5" is read as before."""
    if isinstance(value, bool):
        raise PydanticCustomError(
            "number_not_bool",
            "must be a number, not true/false: send the number itself (a probability as 0.4, "
            "an amount as 1234.5), or leave the field out",
        )
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            raise PydanticCustomError(
                "number_as_text",
                "must be a plain JSON number, like 1234.5 (no quotes, a point for the decimals, "
                "no thousands separators or currency), not the text {text}",
                {"text": repr(value[:40] + ("…" if len(value) > 40 else ""))},
            ) from None
    if isinstance(value, str | float) and not math.isfinite(float(value)):
        # "NaN", "Infinity" or JSON's NaN token: else refused as below 0 or above 1e15
        raise PydanticCustomError(
            "number_not_finite",
            "must be a finite number, not {text}: leave the field out where it is not known",
            {"text": repr(value[:40]) if isinstance(value, str) else str(value)},
        )
    return value


#: A number the models and the store can hold: finite, |x| ≤ MAX_NUMBER.
Number = Annotated[
    float, BeforeValidator(number_in), Field(ge=-MAX_NUMBER, le=MAX_NUMBER, allow_inf_nan=False)
]
#: Money and counts: a Number that is not negative.
Amount = Annotated[
    float, BeforeValidator(number_in), Field(ge=0, le=MAX_NUMBER, allow_inf_nan=False)
]
_REP = "The rep's call on the dataset's scale: 0–1, or 0–100 where it was imported as percents"
RepProbability = Annotated[
    float, BeforeValidator(number_in), Field(ge=0, allow_inf_nan=False, description=_REP)
]
_CSAT = (
    "The customer's satisfaction score, on the dataset's survey scale: 1–5, 0–10 or 0–100 "
    "(a percent); a value below 0 or above 100 is on no scale, and refused"
)


def on_a_scale(value: float) -> float:
    """A CSAT score any satisfaction scale holds (0 to 100; `forecast.data.csat_scale`): the
    KPIs average it as sent, so a -1 or a 450 would move every average it joins."""
    if not 0 <= value <= 100:
        raise PydanticCustomError(
            "csat_scale",
            "{value} is on no satisfaction scale: a CSAT score is 1–5, 0–10 or 0–100 (a "
            "percent); send the score as the survey gave it, or leave the field out",
            {"value": f"{value:g}"},
        )
    return value


#: A CSAT score: a finite number from 0 to 100 (`on_a_scale`).
Csat = Annotated[
    float,
    BeforeValidator(number_in),
    Field(allow_inf_nan=False, description=_CSAT, json_schema_extra={"minimum": 0, "maximum": 100}),
    AfterValidator(on_a_scale),
]
#: A name read as the import reads the export's names (`cleaned_name`): a stage's, a target's.
CleanName = Annotated[str, AfterValidator(cleaned_name)]
StageName = CleanName
