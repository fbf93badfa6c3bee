"""A first mapping for an export no built-in mapping or preset knows, from its header and a sample
of its rows: which column is likely which field, the stage values with the outcomes picked out,
the label of a lead file, the date format. A draft to read and correct, never used unread:
`forecast draft-mapping FILE` writes it, and the import's "not a format I recognise" says so.

Columns are matched by name (compared ignoring case, spaces, dashes and underscores) to the names
CRMs and public data sets give each field, most telling first; a column is given to one field
only. Nothing is guessed from a column's values except what only values can tell: which stage
values are the outcomes, whether a label is yes/no, and which date format reads the dates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.data import currencies
from forecast.data.board_rows import subitems_check
from forecast.data.dataset_names import file_dataset
from forecast.data.date_formats import (
    SAMPLE,
    UNMISTAKABLE_ORDERS,
    UTC_SUFFIX,
    covering_formats,
)
from forecast.data.draft_amounts import expected_revenue, in_cents, recurring_check
from forecast.data.draft_archived import archived_loss, read_archived
from forecast.data.draft_closes import (
    close_times,
    closed_dates,
    closed_only,
    closed_rows,
    one_close_date,
    won_time_of_every_deal,
)
from forecast.data.draft_deleted import deleted_values, skip_block, skip_checks, without_deleted
from forecast.data.draft_funnel import (
    Pipelines,
    by_won_share,
    pipeline_column,
    reached_probabilities,
)
from forecast.data.draft_ids import hashed_id, no_id_check
from forecast.data.draft_labels import label_words, no_label_check
from forecast.data.draft_names import (  # noqa: F401 - named here too: mapping_draft.*
    CONVERTED_ALONE,
    CONVERTED_WORDS,
    DATE_FIELDS,
    DEAL_NAMES,
    EMAIL_NAMES,
    ENTITY_PREFIX,
    ID_ENDINGS,
    LEAD_NAMES,
    LOST_TIMES,
    LOST_WORDS,
    NEGATIONS,
    NOT_CONVERTED_WORDS,
    STATUS_NAMES,
    WON_TIMES,
    WON_WORDS,
    YES_NO,
    id_checks,
    matched,
    name_key,
    names_leads,
    shorter_names,
)
from forecast.data.draft_numbers import amount_words, lead_numbers, number_notation
from forecast.data.draft_stages import (
    MAX_STAGES,
    is_outcome,
    one_spelling,
    probabilities,
    quoted,
    says,
    stages_block,
    with_every_stage,
)
from forecast.data.header_encoding import encoding_hint, garbled_header, other_reading
from forecast.data.lead_outcomes import lead_outcome
from forecast.data.mapping import CsvOptions, loose_key
from forecast.data.mapping_detect import preset_of
from forecast.data.preset_check import preset_reads
from forecast.data.reading import (
    blank_and_footer,
    check_not_excel,
    check_text,
    file_encoding,
    is_parquet,
    iter_table,
)
from forecast.data.yes_no import MARKS, YES_NO_LABELS
from forecast.errors import InvalidInput

#: Rows of the file read to draft from.
SAMPLE_ROWS = 5000
#: Optional deal fields a draft says it found no column for, and what goes without them (a
#: GoHighLevel draft that missed "Lead Value" imported with KPIs of won revenue 0, unsaid).
UNMAPPED = {
    "amount": "revenue figures (won revenue, pipeline value, revenue forecasts) need it",
    "owner": "figures per owner need it",
    "updated_at": "each deal is dated the export's date (--export-date, else its newest date)",
}


@dataclass
class Draft:
    """A drafted mapping: its YAML text and what to check in it."""

    kind: str
    columns: dict[str, str]
    text: str
    checks: list[str] = field(default_factory=list)


def draft_mapping(file: Path, kind: str | None = None) -> Draft:
    """A mapping drafted from `file`'s header and first rows (`kind`: "opportunities" or
    "leads"; default: opportunities where a column names a stage, leads where one names a
    conversion, or where no outcome is named, the columns are named after a lead)."""
    csv = _read_as(file)
    first = next(iter_table(file, SAMPLE_ROWS, [], csv), None)
    sample = _records(first) if first is not None else None
    if sample is None or sample.empty:
        raise InvalidInput(f"{file}: no rows to draft a mapping from")
    names = [str(c) for c in sample.columns]
    read_as = None  # a header garbled in the encoding the import would use: read in the right one
    if garbled_header(names) and (other := other_reading(names, csv.encoding)):
        read_as = (
            f"the file may be in another encoding: read as {other} (its header read as "
            f"{csv.encoding} looks garbled: {names[:3]}); set csv: encoding: {other} (or the "
            "right one)"
        )
        csv = csv.model_copy(update={"encoding": other})
        sample = _records(next(iter_table(file, SAMPLE_ROWS, [], csv)))
        names = [str(c) for c in sample.columns]
    deals = matched(names, DEAL_NAMES)
    deals |= closed_dates(sample, deals)
    deals |= expected_revenue(sample, deals)
    leads = matched(names, LEAD_NAMES)
    status = matched(names, {"status": STATUS_NAMES}).get("status")
    if kind is None:
        if "stage" in deals:
            kind = "opportunities"
        elif "converted" in leads:
            kind = "leads"
        elif status is not None:  # a status is a lead's outcome unless the rows look like deals
            kind = _kind_of_status(sample[status], deals, file)
        elif names_leads(names) and not _deal_columns(deals):  # Pipedrive's: "Lead - Title"
            kind = "leads"
        else:
            raise InvalidInput(
                f"{file}: no column names a deal stage or a lead's conversion ({names[:20]}); "
                "say which it holds with --kind deals or --kind leads"
                f"{encoding_hint(names, csv)}{f' ({read_as})' if read_as else ''}"
            )
    draft = _drafted(file, csv, sample, kind, (deals, leads, status))
    if said := subitems_check(first):  # a board's subitems were no rows of the draft
        draft.checks.append(said)
    preset = preset_of(file)
    if preset is not None and preset_reads(file, preset):
        draft.checks.insert(
            0,
            f"a built-in mapping ({preset}) already reads this file: `forecast import {file}` "
            "(no --mapping) uses it; this draft is only for reading it another way",
        )
    if read_as is not None:
        lines = draft.text.splitlines()
        at = next((i for i, line in enumerate(lines) if line.startswith("csv: {")), None)
        if at is None:
            lines.append(f"csv: {{encoding: {csv.encoding}}}   # the file's encoding: check")
        else:  # one csv: block, its number notation and the encoding
            lines[at] = lines[at].replace("{", f"{{encoding: {csv.encoding}, ", 1)
        draft.text = "\n".join(lines) + "\n"
        draft.checks.insert(0, read_as)
    return draft


def _drafted(
    file: Path,
    csv: CsvOptions,
    sample: pd.DataFrame,
    kind: str,
    found: tuple[dict[str, str], dict[str, str], str | None],
) -> Draft:
    """The draft of one kind from the columns matched by name (`found`: the deal fields', the
    lead fields', a status column)."""
    deals, leads, status = found
    names = [str(c) for c in sample.columns]
    if kind == "leads":
        flag = leads.get("converted")
        if (
            "converted" not in leads
            and status is not None
            and _status_labels(sample, status, leads)
        ):
            leads = {**leads, "converted": status}
        elif flag is not None and status not in (None, flag) and _open_beside(sample, flag, status):
            leads = {**leads, "converted": str(status)}
        leads.setdefault("id", _id_column(sample, set(leads.values())) or _email_id(sample))
        flag_left = flag is not None and leads["converted"] != flag
        leaks = [flag] if flag is not None and flag_left else []
        draft = _lead_draft(file, csv, sample, {f: c for f, c in leads.items() if c}, leaks)
        if flag_left:
            draft.checks.insert(
                0,
                f"the label read from {status!r}, not from the 0/1 {flag!r}: that says 0 for "
                f"the leads {status!r} says are still open (not known yet); {flag!r} is left "
                "out of the model's inputs (leak_columns): check",
            )
        return draft
    if "stage" not in deals and status is not None and status not in deals.values():
        deals["stage"] = status
    deals.setdefault("id", _id_column(sample, set(deals.values())))
    deals = {f: c for f, c in deals.items() if c}
    if status in deals.values():  # it is the stage itself: another may say the outcomes
        others = [n for n in names if n not in deals.values()]
        status = matched(others, {"status": STATUS_NAMES}).get("status")
    said = [c for c in (deals.get("stage"), status) if c is not None]
    deals, times = won_time_of_every_deal(sample, deals, close_times(names, deals), said)
    return _deal_draft(file, csv, sample, one_close_date(deals, times), status, times)


def _open_beside(sample: pd.DataFrame, flag: str, status: str) -> bool:
    """Whether a lead file's status is its label rather than its yes/no conversion flag: the
    status says converted, not converted and still open (Salesforce's lead report: its
    "Converted" is 0 for a lead still "Working - Contacted", which is not known yet)."""
    flags = sample[flag].dropna().astype("str").str.strip().str.casefold()
    if flags.empty or not flags.isin(YES_NO).all():
        return False
    return {"0", "1", None} <= _outcomes_said(sample, status)


def _status_labels(sample: pd.DataFrame, status: str, leads: dict[str, str]) -> bool:
    """Whether a lead file's status column is its label. Where a conversion date says the
    outcome too, only if the status says both outcomes: HubSpot's "Lead Status" has no
    converted value and its "Lifecycle Stage" no value for a lead that will not convert, while
    "Became a Customer Date" labels the converted and, once old enough, the others."""
    if "converted_at" not in leads:
        return True
    return {"0", "1"} <= _outcomes_said(sample, status)


def _outcomes_said(sample: pd.DataFrame, status: str) -> set[str | None]:
    """What a lead status column's values say: converted ("1"), not ("0"), not known (None)."""
    values = sample[status].dropna().astype("str").str.strip().unique()[:MAX_STAGES]
    return {lead_outcome(v) for v in values}


def _kind_of_status(values: pd.Series, deals: dict[str, str], file: Path) -> str:
    """Whether a status column is a lead's outcome or a deal's. Its values say it first: a
    lead's words other than won and lost, which both use ("Converted", "Unqualified"), make it
    a lead's; then the columns (an amount and a date it closed are a deal's: Nutshell calls its
    deals "leads"; an expected close date a lead may carry too); the file's name last."""
    said = [str(v) for v in values.dropna().astype("str").str.strip().unique()[:SAMPLE]]
    shared = WON_WORDS + LOST_WORDS
    if any(lead_outcome(v) is not None and not says(v, shared) for v in said if v):
        return "leads"
    named = "lead" not in loose_key(file.name)
    closes = _deal_columns(deals)
    return "opportunities" if closes or ("amount" in deals and named) else "leads"


def _deal_columns(deals: dict[str, str]) -> bool:
    """Whether a header has a deal's amount and a date it closed ("Lead Source" and "Lead
    Owner" beside them name a deal's origin, not a lead)."""
    return "amount" in deals and ("close_date" in deals or "closed_at" in deals)


def _records(sample: pd.DataFrame) -> pd.DataFrame:
    """The sample's records: without blank lines, nor a report's footer where the sample is the
    whole file (`blank_and_footer`, as the import skips them: a "Grand Summary" line's blank
    name and date would otherwise keep the draft from hashing an id)."""
    blank, footer = blank_and_footer(sample, last=len(sample) < SAMPLE_ROWS)
    return sample[~(blank | footer)]


def _id_column(sample: pd.DataFrame, taken: set[str]) -> str:
    """A column named like an id ("lead_id", "Deal Number") whose values are nine in ten
    different; "" where none is."""
    for column in sample.columns:
        key = name_key(column)  # accents dropped: "Numéro" ends as "numero" does
        if column in taken or not (key.startswith("id") or key.endswith(ID_ENDINGS)):
            continue
        values = sample[column].dropna()
        if len(values) and values.nunique() >= 0.9 * len(values):
            return str(column)
    return ""


def _email_id(sample: pd.DataFrame) -> str:
    """A lead export's email column where every sampled lead has one of its own (HubSpot's and
    Marketo's contacts carry no other id): a newer export then updates its leads rather than
    adding them again; "" where there is none."""
    column = matched([str(c) for c in sample.columns], {"email": EMAIL_NAMES}).get("email")
    if column is None:
        return ""
    values = sample[column].astype("str").str.strip().str.casefold().where(sample[column].notna())
    return column if values.notna().all() and not values.duplicated().any() else ""


def _all_values(
    file: Path, csv: CsvOptions, columns: list[str], pipelines: Pipelines | None = None
) -> list[pd.Series]:
    """Per column, how many rows of the whole file (the kept pipeline's) hold each of its
    values (a sample may miss one), most first: one read of the file for all of them."""
    counts = [pd.Series(dtype="float64") for _ in columns]
    for chunk in iter_table(file, 200_000, [], csv):
        chunk = chunk if pipelines is None else chunk[pipelines.rows(chunk)]
        for i, column in enumerate(columns):
            values = chunk[column].dropna().astype("str").str.strip()
            counts[i] = counts[i].add(values.value_counts(), fill_value=0)
    return [c.sort_values(ascending=False, kind="stable") for c in counts]


def _deal_draft(
    file: Path,
    csv: CsvOptions,
    sample: pd.DataFrame,
    columns: dict[str, str],
    status: str | None = None,
    close_times: list[str] | None = None,
) -> Draft:
    """A deal mapping; `status`: a column apart from the stage that may hold the outcomes
    (Pipedrive's "Status": open, won, lost); `close_times`: the columns a close is read from,
    the first not blank (Pipedrive's "Won time", "Lost time")."""
    checks = []
    piped = pipeline_column(sample, columns.get("stage"))
    pipelines = Pipelines.of(piped, _all_values(file, csv, [piped])[0], sample) if piped else None
    if pipelines is not None:  # one pipeline's funnel, not several mixed
        sample, checks = sample[pipelines.rows(sample)], [pipelines.check]
    read = [c for c in (columns.get("stage"), status) if c is not None]
    found = dict(zip(read, _all_values(file, csv, read, pipelines), strict=True))
    deleted = deleted_values(found)  # neither open nor lost: left out (`skip_rows`)
    if deleted:
        checks += skip_checks(found, deleted)
        sample, found = without_deleted(sample, found, deleted)
    if (stage := columns.get("stage")) is not None:  # stages the first rows lack read too
        sample = with_every_stage(file, csv, sample, stage, found[stage], pipelines)
    counts, spellings = one_spelling(found.get(columns.get("stage", ""), pd.Series()))
    if spellings:  # "4 - proposal" is read as "4 - Proposal" throughout
        respelled = sample[columns["stage"]].map(lambda v: spellings.get(str(v).strip(), v))
        sample = sample.assign(**{columns["stage"]: respelled})
    outcomes = found.get(status or "", pd.Series())
    from_status = (
        status is not None
        and not any(is_outcome(v) for v in counts.index)
        and any(says(str(v), WON_WORDS) for v in outcomes.index)
        and any(says(str(v), LOST_WORDS) for v in outcomes.index)
    )
    archived = None if from_status else archived_loss(sample, columns)  # Odoo's lost deals
    name = file_dataset(file) if pipelines is None else pipelines.dataset(file_dataset(file))
    lines = ["kind: opportunities", f"dataset: {quoted(name)}", "columns:"]
    for f, c in columns.items():
        if f == "stage" and from_status:  # the outcome from the status, else the stage
            lines.append(f"  stage: {{first_of: [{quoted(str(status))}, {quoted(c)}]}}")
        elif f == "stage" and archived is not None:
            lines.append(archived.stage_line(c))
        else:
            lines.append(f"  {f}: {quoted(c)}")
    if close_times:
        shown = ", ".join(quoted(c) for c in close_times)
        value = f"{{first_of: [{shown}]}}" if len(close_times) > 1 else shown
        lines.append(f"  closed_at: {value}")
    parts = [] if "id" in columns else hashed_id(sample, columns)  # an export without ids
    if parts:
        lines.append(f"  id: {{hash_of: [{', '.join(quoted(c) for c in parts)}]}}")
        checks.append(f"no id column: each deal's id is a hash of {parts} (a renamed deal is new)")
    for required in ("id", "stage"):
        if required not in columns and not (required == "id" and parts):
            lines.append(f"  {required}: ???   # no column named like it: name the column")
            hashable = no_id_check(sample, columns) if required == "id" else ""
            checks.append(hashable or f"no column found for {required}")
    checks += id_checks(columns)
    for optional, without in UNMAPPED.items():  # optional, so nothing is written: said instead
        if optional not in columns:
            checks.append(f"no column found for {optional}: {without} (name it if there is one)")
    if "close_date" not in columns and "closed_at" not in columns and not close_times:
        updated = columns.get("updated_at")  # GoHighLevel's "Updated on": the nearest it has
        near = f"; {updated!r}, a deal's last update, is the nearest here" if updated else ""
        checks.append(f"no close date column: a won or lost deal needs one (map closed_at{near})")
    if from_status:
        assert status is not None
        still_open = [str(v) for v in outcomes.index if not is_outcome(v)]
        lines.append(f"value_fixes:   # an open deal's {status!r} is blank: its stage is read")
        lines.append(f"  {quoted(status)}:")
        lines += [f'    {quoted(v)}: ""' for v in still_open]
        won_lost = outcomes[[is_outcome(v) for v in outcomes.index]]
        never = closed_only(sample, columns["stage"], status, len(sample) < SAMPLE_ROWS)
        open_counts = counts.drop(never, errors="ignore")
        counts = pd.concat([won_lost, by_won_share(open_counts, sample, columns["stage"], status)])
        checks.append(
            f"the outcomes read from {status!r}, an open deal's stage from {columns['stage']!r}"
        )
    lines += skip_block(deleted) if deleted else []
    lines += pipelines.lines() if pipelines is not None else []
    if archived is not None:
        lines += archived.fixes()
        checks.append(f"a deal archived ({archived.column!r} false) at probability 0 read as lost")
    if "close_date" in columns:
        checks.append(
            f"{columns['close_date']!r} read as one close date: expected while open, actual once "
            "won or lost (map closed_at / expected_close_at instead if they are two columns)"
        )
    probability = (
        probabilities(sample[columns["rep_probability"]]) if "rep_probability" in columns else None
    )
    if "stage" in columns:
        values = sample[columns["stage"]]
        if from_status:  # a closed deal's stage and probability are its outcome's, not the stage's
            assert status is not None
            closed = sample[status].astype("str").map(is_outcome)
            values = values.where(~closed.to_numpy(dtype=bool))
        if archived is not None:
            counts, values = read_archived(counts, values, sample, archived)
        closed = closed_rows(sample, columns, close_times or [])
        stages, said = stages_block(counts, values, probability, closed, spellings)
        lines += stages
        checks += said
        if from_status and probability is None and status is not None:
            opened = [str(v) for v in counts.index if not is_outcome(v)]
            reached = reached_probabilities(sample, columns["stage"], status, opened)
            lines += reached
            if reached:
                checks.append(
                    "stage_probabilities: estimated, the share won of the closed deals that "
                    "reached each stage (the export holds no probabilities; a flat export's "
                    "model scores by them): check"
                )
    lines += _date_format(sample, columns, checks)
    lines += number_notation(sample, columns, checks) + amount_words(sample, columns, checks)
    if "amount" in columns and (formatted := in_cents(sample, columns["amount"])):
        lines.append("amount: {in_cents: true}   # the amounts are written in cents")
        checks.append(f"{columns['amount']!r} read in cents: {formatted!r} shows it / 100")
    if "amount" in columns and (recurs := recurring_check(sample, columns["amount"])):
        checks.append(recurs)
    if probability is not None and probability.max() > 1:
        lines.append("rep_probability_scale: 100   # the export holds percents")
    lines += _currency(sample, columns, checks)
    text = "\n".join(lines) + "\n"
    return Draft("opportunities", columns, text, checks)


def _lead_draft(
    file: Path, csv: CsvOptions, sample: pd.DataFrame, columns: dict[str, str], leaks: list[str]
) -> Draft:
    checks = []
    lines = ["kind: leads", f"dataset: {quoted(file_dataset(file))}"]
    mapped = {f: c for f, c in columns.items() if f in LEAD_NAMES}
    if "id" not in mapped:
        checks.append("no id column: each lead's id is a hash of its row (see the README)")
    lines.append("columns:")
    lines += [f"  {f}: {quoted(c)}" for f, c in mapped.items()]
    if "converted" not in mapped and "converted_at" in mapped:
        checks.append(
            f"converted read from {mapped['converted_at']!r}: a lead with a date converted, the "
            "others not once old enough (the outcome window: see the README)"
        )
    elif "converted" not in mapped:
        lines.append("  converted: ???   # the column saying whether the lead converted")
        checks.append(no_label_check(sample, mapped.values()))
    elif (tick := _ticked(sample[mapped["converted"]])) is not None and _one_value(
        file, csv, mapped["converted"]
    ):
        column = mapped["converted"]
        lines.append("value_fixes:   # a box ticked for converted leads, blank for the others")
        lines.append(f"  {quoted(column)}:")
        if tick.casefold() not in YES_NO:
            lines.append(f'    {quoted(tick)}: "1"')
        lines.append('    "": "0"')
        checks.append(
            f"{column!r} holds {tick!r} and blanks: read as a box ticked for converted leads and "
            'left blank for the others (0); where a blank means not known yet, drop the "" line'
        )
    else:
        words, said = label_words(sample, mapped["converted"])
        lines += words
        checks += said
    lines += _date_format(sample, mapped, checks)
    lines += lead_numbers(sample, mapped, checks)
    if "converted" in mapped and "created_at" in mapped and "converted_at" not in mapped:
        lines.append(
            "# outcome_days: 60   # where open leads are written as not converted: the days a "
            "lead takes to convert (younger leads are scored, not learnt from)"
        )
    shown = ", ".join(quoted(c) for c in leaks)
    lines.append(
        f"leak_columns: [{shown}]   # columns filled in after the outcome (training finds some)"
    )
    return Draft("leads", mapped, "\n".join(lines) + "\n", checks)


def _ticked(values: pd.Series) -> str | None:
    """A label column's one value where it is a box's tick ("x", "✓", "Yes", 1) beside blanks:
    a checkbox exported ticked for converted leads and blank for the others, whose blanks mean
    not converted, not "not known yet" as a blank label otherwise does."""
    text = values.astype("str").str.strip().where(values.notna(), "")
    distinct = text[text != ""].unique()
    if len(distinct) != 1 or len(distinct) == len(text.unique()):  # not one value, or no blank
        return None
    tick = str(distinct[0])
    return tick if tick.casefold() in MARKS or YES_NO_LABELS.get(tick.casefold()) == 1 else None


def _one_value(file: Path, csv: CsvOptions, column: str) -> bool:
    """Whether the whole file's `column` holds one value beside blanks, as its sample does: a
    "0" past the sample says a blank means not known yet, not unticked."""
    return len([v for v in _all_values(file, csv, [column])[0].index if v != ""]) == 1


def _date_format(sample: pd.DataFrame, columns: dict[str, str], checks: list[str]) -> list[str]:
    """A `date_format:` line where the mapped dates are not ISO 8601 (none where they are)."""
    per_column: list[list[str]] = []
    for f in DATE_FIELDS:
        if f in columns:
            # Distinct dates from across the sample, not its first rows: an export sorted by
            # date starts with days read either way ("01/01/2024"); later ones ("13/01") tell.
            text = sample[columns[f]].dropna().astype("str").str.strip().drop_duplicates()
            # A time written with "UTC" or "GMT" after it is read as the import reads it.
            text = text.str.replace(UTC_SUFFIX, "", regex=True)
            text = text.iloc[np.linspace(0, len(text) - 1, min(len(text), SAMPLE)).astype(int)]
            if given := [v for v in text if v]:
                per_column.append(given)
    values = [v for given in per_column for v in given]
    if not values:
        return []
    iso = pd.to_datetime(pd.Series(values), format="ISO8601", errors="coerce", utc=True)
    if iso.notna().all():
        return []
    unread = values[int(np.flatnonzero(iso.isna().to_numpy())[0])]  # one the draft must read
    found = _covering_every(per_column)
    shown = {
        order: (quoted[0] if len(quoted) == 1 else f"[{', '.join(quoted)}]")
        for order, formats in found.items()
        for quoted in [[f'"{f}"' for f in formats]]
    }
    if len(found) == 1:
        [(order, line)] = shown.items()
        return [f"date_format: {line}   # {order}"]
    if found:
        options = " or ".join(f"{order}" for order in found)
        checks.append(f"dates like {unread!r} could be {options}: set date_format")
        # Every column's format in the first order (a date-time and a date-only column both).
        return [f"date_format: {next(iter(shown.values()))}   # or the other order: check"]
    checks.append(f"dates like {unread!r}: no date format found; set date_format")
    return []


def _currency(sample: pd.DataFrame, columns: dict[str, str], checks: list[str]) -> list[str]:
    """A `currency:` line to check where nothing in the file names the amounts' currency (no
    currency column, no symbol or code on the amounts): forecasts and KPIs say their currency,
    and an unchecked default would have them say USD of euros."""
    if "currency" in columns or "amount" not in columns:
        return []
    amounts = sample[columns["amount"]].dropna().astype("str").head(SAMPLE)
    if currencies.stated(amounts).notna().any():
        return []
    checks.append("no currency in the file: the mapping's currency says what the amounts are in")
    return ["currency: USD   # the amounts' currency (nothing in the file says): check"]


def _covering_every(per_column: list[list[str]]) -> dict[str, list[str]]:
    """Per date order, the formats that read every date column's sample, each column's first:
    one pooled sample would hold only the first column's values (a date-time `Created` would
    hide a date-only `Close Date` beside it)."""
    each = [covering_formats(values) for values in per_column]
    if not all(each):
        return {}
    # A column read in an order that cannot be mistaken (ISO's year first, a month's name) keeps
    # its own formats whatever the order of the others ("Jan 07, 2023" beside "2023-03-19").
    own = [next((found[o] for o in UNMISTAKABLE_ORDERS if o in found), None) for found in each]
    bound = [found for found, mine in zip(each, own, strict=True) if mine is None]
    if not bound:
        first = next(o for o in UNMISTAKABLE_ORDERS if o in each[0])
        return {first: list(dict.fromkeys(f for mine in own if mine for f in mine))}
    orders = [order for order in bound[0] if all(order in found for found in bound[1:])]
    return {
        order: list(
            dict.fromkeys(
                f
                for found, mine in zip(each, own, strict=True)
                for f in (mine if mine is not None else found[order])
            )
        )
        for order in orders
    }


def _read_as(file: Path) -> CsvOptions:
    """How the import will read the file's text (cp1252 where it is not UTF-8, as Excel on
    Windows writes): the draft reads its sample the same way."""
    if is_parquet(file):
        return CsvOptions()
    check_not_excel(file)
    check_text(file)
    return file_encoding(file, CsvOptions())[0]
