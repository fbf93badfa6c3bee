"""A lead's date as model inputs: the day of the week it came in, and the hour where the data
has times of day (none for a lead whose date has no time: midnight to the microsecond).

Both are known the moment a lead exists (no later value can leak in), and both repeat, so a
holdout by time sees the same values as training; the calendar date itself does not repeat and
is never an input. Times are read as UTC, the same in training and in scoring. A lead the API
scores without `created_at` is scored as created now: a CRM scores a lead as it comes in. A
batch's lead without one (a blank cell of a file or the store) is an existing lead created at a
time not known: it is scored as undated, not as created now.

A `created_at` that is sent is read as the store reads dates (`history.as_timestamp`: ISO 8601,
never a guessed day/month order) and must not lie ahead of now by more than `FUTURE_SKEW` (the
deal routes' rule). Scoring refuses one that is unreadable with `InvalidInput` naming the field
and the value (the API's 422); a batch scores such a lead as undated and says how many there
were (`unreadable`), so one bad row does not stop it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from operator import methodcaller
from typing import Any

import pandas as pd

from forecast.data.date_formats import in_formats
from forecast.errors import InvalidInput
from forecast.history import as_timestamp

WEEKDAY, HOUR = "created_weekday", "created_hour"
DATE_INPUTS = (WEEKDAY, HOUR)
#: What reasons call them.
LABELS = {WEEKDAY: "Day of the week created", HOUR: "Hour created (UTC)"}
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
#: The field a scored lead's creation time is read from.
CREATED = "created_at"
#: How far ahead of this clock a lead's creation time may lie (clock skew between systems; the
#: same allowance as a deal's dates in the API).
FUTURE_SKEW = timedelta(days=1)
#: Before it, a creation date is a CRM's placeholder for none (0001-01-01 is .NET's), as for
#: a deal's dates: no lead came in then, and its weekday would be scored as learnt.
EARLIEST = datetime(1900, 1, 1)


def created_utc(values: pd.Series) -> pd.Series:
    """Dates as naive UTC timestamps (blank or unreadable → NaT)."""
    created = pd.to_datetime(values, errors="coerce", utc=True, format="mixed")
    return created.dt.tz_localize(None)


def date_inputs(created: pd.Series, hours: bool | None = None) -> pd.DataFrame:
    """The inputs for each lead: its weekday always, its hour only when the dated leads' times
    of day vary (a date-only column would read as midnight for every lead). `hours` says
    whether they do over all leads, where `created` is a slice of them (`hours_vary`)."""
    out = pd.DataFrame(index=created.index)
    if hours is None:
        if created.notna().sum() == 0:
            return out
        hours = hours_vary(created)
    out[WEEKDAY] = created.dt.dayofweek.map(dict(enumerate(DAYS))).astype("str")
    out.loc[created.isna(), WEEKDAY] = None
    if hours:
        # A date written without a time of day reads as midnight to the second: its hour is
        # not known (a column that mixes dates and date-times would teach "hour 0" otherwise).
        out[HOUR] = created.dt.hour.astype(float).where(created != created.dt.normalize())
    return out


def hours_vary(created: pd.Series) -> bool:
    """Whether the dated leads' times of day vary (`date_inputs` then gives the hour)."""
    return bool(created.dropna().dt.hour.nunique() > 1)


def used_by(columns: Sequence[str]) -> tuple[str, ...]:
    """The date inputs among a fitted model's input columns (none: the rows need nothing)."""
    return tuple(c for c in DATE_INPUTS if c in columns)


def with_date_inputs(
    rows: Sequence[Mapping[str, Any]],
    used: tuple[str, ...],
    now: datetime | None = None,
    *,
    strict: bool = True,
    own_name: str | None = None,
    formats: Sequence[str] = (),
) -> Sequence[Mapping[str, Any]]:
    """Scoring rows with the date inputs a model uses, from each row's `created_at`.

    A `created_at` sent is checked even when the model reads no date input, so a request is
    refused or taken the same whatever model serves it. `strict` (the API's): an unreadable one
    raises `InvalidInput` naming the field and the value, and a lead without one is created now
    (`now`: it is scored as it comes in); else (a batch's) such a row is scored as undated (its
    date inputs blank, as a model routes missing values). `own_name`: the dataset's own column for
    the creation date (its mapping's), read where `created_at` is not sent: a CRM sends its
    own names. `formats`: the dataset's own date formats (its mapping's), tried after ISO 8601:
    a CRM sends dates as its export writes them."""
    if own_name is not None and own_name != CREATED:
        rows = [
            _under_one_name(row, own_name, i, len(rows), strict, formats)
            for i, row in enumerate(rows)
        ]
    if not used:
        if strict:  # only the dates sent are read: `map` finds them without a loop per row
            sent = list(map(methodcaller("get", CREATED), rows))
            if sent.count(None) + sent.count("") < len(sent):
                now = now or datetime.now(UTC).replace(tzinfo=None)
                for i, value in enumerate(sent):
                    if value is not None and value != "":
                        _checked(value, now, i, len(rows), formats)
        return rows
    now = now or datetime.now(UTC).replace(tzinfo=None)
    out: list[Mapping[str, Any]] = []
    for i, row in enumerate(rows):
        value = row.get(CREATED)
        when: datetime | None = now if strict else None
        if value is not None and value != "":
            if strict:
                when = _checked(value, now, i, len(rows), formats)
            else:
                try:
                    when = created_time(value, now, formats=formats)
                except InvalidInput:
                    when = None
        extra: dict[str, Any] = {}
        if WEEKDAY in used:
            extra[WEEKDAY] = DAYS[when.weekday()] if when is not None else None
        if HOUR in used:
            extra[HOUR] = _hour(when)
        out.append({**row, **extra})
    return out


def _hour(when: datetime | None) -> float | None:
    """A creation time's hour (UTC); None where it is not known: no date, or a date without a
    time of day (midnight to the microsecond, as `date_inputs` reads the training leads)."""
    if when is None or when == when.replace(hour=0, minute=0, second=0, microsecond=0):
        return None
    return float(when.hour)


def _under_one_name(
    row: Mapping[str, Any], own: str, i: int, n: int, strict: bool, formats: Sequence[str] = ()
) -> Mapping[str, Any]:
    """The row with its creation date under `created_at` where it came under the dataset's own
    name (checked under that name when `strict`); both given and different is `InvalidInput`
    naming both (the same time written two ways, "2024-05-01" and "01.05.2024", is not)."""
    mine = row.get(own)
    if mine is None or mine == "":
        return row
    given = row.get(CREATED)
    at = f"row {i} (counting from 0): " if n > 1 else ""
    if strict:
        try:
            created_time(mine, field=own, formats=formats)
        except InvalidInput as exc:
            raise InvalidInput(f"{at}{exc}") from None
    if given is not None and given != "" and not _same_time(given, mine, formats):
        raise InvalidInput(
            f"{at}fields {CREATED!r} and {own!r} both give the lead's creation date and differ "
            f"({given!r}, {mine!r}): send one"
        )
    return {**row, CREATED: mine}


def _same_time(given: Any, mine: Any, formats: Sequence[str]) -> bool:
    """Whether two values give the same time (either unreadable: only if written alike)."""
    if given == mine:
        return True
    try:
        return created_time(given, formats=formats) == created_time(mine, formats=formats)
    except InvalidInput:
        return False


def _checked(value: Any, now: datetime, i: int, n: int, formats: Sequence[str] = ()) -> datetime:
    """`created_time`, its refusal saying which row of a batch of more than one it is."""
    try:
        return created_time(value, now, formats=formats)
    except InvalidInput as exc:
        if n == 1:
            raise
        raise InvalidInput(f"row {i} (counting from 0): {exc}") from None


def created_time(
    value: Any, now: datetime | None = None, field: str = CREATED, formats: Sequence[str] = ()
) -> datetime:
    """A lead's creation time sent as `value`, as naive UTC; `InvalidInput` naming `field` and
    the value when it is no date, a day/month order that reads two ways, before `EARLIEST`, or
    later than `now` (default: this clock) by more than `FUTURE_SKEW`.

    ISO 8601 text is read by `datetime.fromisoformat` (a tenth of `pd.Timestamp`'s time), then
    by the dataset's own `formats` (its mapping's `date_format`: "01.05.2024" with "%d.%m.%Y");
    any other text goes to `as_timestamp`, which reads what the store reads and refuses the
    rest."""
    if isinstance(value, datetime):  # a pd.Timestamp too (a batch's stored dates)
        if value is pd.NaT:
            raise InvalidInput(f"field {field!r}: {value!r} is not a date")
        when = value
    elif isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            try:
                read = in_formats(value.strip(), formats) if formats else None
                when = (read if read is not None else as_timestamp(value)).to_pydatetime()
            except (ValueError, TypeError, OverflowError) as exc:  # UnclearDate is a ValueError
                if formats:  # the dataset's own forms are the ones to name
                    why = f"{value!r} is not a date: {_forms(formats)}"
                elif isinstance(exc, InvalidInput):
                    why = str(exc)  # says the form wanted
                else:
                    why = f"{value!r} is not a date (send ISO 8601: 2025-03-08T10:00:00Z)"
                raise InvalidInput(f"field {field!r}: {why}") from None
    else:  # a number or a flag is no date (12345 is not read as nanoseconds since 1970)
        raise InvalidInput(
            f"field {field!r}: {value!r} is not a date (send ISO 8601 text: 2025-03-08T10:00:00Z)"
        )
    early = when.replace(tzinfo=None) < EARLIEST  # before converting: 0001-01-01+01:00 overflows
    if not early and when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    if early or when < EARLIEST:
        raise InvalidInput(
            f"field {field!r}: {value!r} is before 1900: a placeholder for no date? send the "
            "real date, or leave the field out"
        )
    if when > (now or datetime.now(UTC).replace(tzinfo=None)) + FUTURE_SKEW:
        raise InvalidInput(
            f"field {field!r}: {value!r} lies in the future: a lead is created by now"
        )
    return when


def _forms(formats: Sequence[str]) -> str:
    """The date forms a dataset's leads may be sent in, each with an example."""
    example = datetime(2025, 3, 8, 14, 5)
    own = ", ".join(f"{fmt} ({example.strftime(fmt)})" for fmt in formats)
    return (
        f"send it as the dataset's export writes dates, {own}, "
        "or as ISO 8601 (2025-03-08T14:05:00Z)"
    )


def unreadable(values: Iterable[Any], now: datetime | None = None) -> list[tuple[int, Any]]:
    """(position, value) of each sent creation time `created_time` refuses (blanks are not
    counted): the leads a batch scores as undated."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    bad = []
    for i, value in enumerate(values):
        if value is None or value is pd.NaT or value == "" or value != value:  # blank, NaN
            continue
        try:
            created_time(value, now)
        except InvalidInput:
            bad.append((i, value))
    return bad
