"""A drafted mapping's `stages:` block: the outcomes picked out of a stage column's values by
their words ("Closed Won", "Lost - no budget"), the open stages in the order of their deals'
probability, the CRM's stage probabilities, and a stage whose every deal is at 0% and closed
drafted as a loss (Bitrix24's "Analyze failure")."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from forecast.data.attributes import unaccented
from forecast.data.draft_names import LOST_WORDS, WON_WORDS
from forecast.data.loose import loose_key
from forecast.data.mapping import CsvOptions, load_mapping
from forecast.data.reading import iter_table

if TYPE_CHECKING:  # draft_funnel reads this module
    from forecast.data.draft_funnel import Pipelines

#: Stage values listed in a draft (the most frequent; the import names any other).
MAX_STAGES = 30
#: Words a deal's stage says a loss with, beside `LOST_WORDS`: Zendesk Sell ends its pipeline in
#: "Won", "Lost" and "Unqualified". A lead status's "Unqualified" is not a deal's outcome word
#: there (it tells a lead file from a deal file), so it is only a deal stage's.
STAGE_LOST_WORDS = (*LOST_WORDS, "unqualified")


def one_spelling(counts: pd.Series) -> tuple[pd.Series, dict[str, str]]:
    """Stage values that differ only in case or the spaces around them ("4 - proposal" beside
    "4 - Proposal", a hand-kept sheet's) as one stage, its most frequent spelling: the counts
    without the other spellings, and each other spelling → the stage's."""
    best: dict[str, tuple[str, float]] = {}
    for value, n in counts.items():
        key = str(value).strip().casefold()
        if key not in best or n > best[key][1]:
            best[key] = (str(value), float(n))
    others = {str(v): best[str(v).strip().casefold()][0] for v in counts.index}
    others = {v: stage for v, stage in others.items() if v != stage}
    return counts[[str(v) not in others for v in counts.index]], others


def stages_block(
    counts: pd.Series,
    values: pd.Series,
    probability: pd.Series | None,
    closed: pd.Series | None = None,
    spellings: dict[str, str] | None = None,
) -> tuple[list[str], list[str]]:
    """The `stages:` block from the file's stage values (`counts`: rows per value): the
    outcomes picked out by their names, the other values open (in the order of the sample's
    deals' mean probability where the export has one, else by how many deals are in each: to
    be put in funnel order), and what to check. `closed`: per sampled deal, whether the export
    says it is closed (a close date, a yes/no "Closed"), where it says so; `spellings`: other
    spellings of stages (`one_spelling`), written as their other names."""
    text = values.astype("str").str.strip().where(values.notna())
    distinct = [str(v) for v in counts.index if v][:MAX_STAGES]
    # Each outcome is named by its plainest value, the others stored under it: "Closed Lost",
    # not the more frequent "Closed-Lost to Competition" (a reason Zoho adds to the loss).
    won = sorted((v for v in distinct if says(v, WON_WORDS)), key=_word_count)
    lost = [v for v in distinct if says(v, STAGE_LOST_WORDS) and v not in won]
    # "Lost" names the loss, not "Unqualified"
    lost.sort(key=lambda v: (not says(v, LOST_WORDS), _word_count(v)))
    open_ = [v for v in distinct if v not in won and v not in lost]
    configured: list[str] = []
    unplaced: list[str] = []
    zero_checks: list[str] = []
    if probability is not None and probability.notna().any():
        for value in _at_zero(probability, text, open_):
            rows = (text == value).to_numpy()
            if closed is not None and bool(closed[rows].all()):
                open_.remove(value)
                lost.append(value)
                zero_checks.append(
                    f"stage {value!r}: every deal in it is closed at probability 0: drafted as "
                    "lost; check"
                )
            elif closed is None:
                zero_checks.append(
                    f"stage {value!r}: every deal in it has probability 0: a loss? drafted open; "
                    "if it is, move it to stage_names as another name of the lost stage"
                )
        mean = probability.groupby(text).mean()
        open_.sort(key=lambda v: (pd.isna(mean.get(v)), mean.get(v, 0)))
        checks = ["stages.open: in the order of their deals' probability; check the funnel order"]
        configured = _stage_probabilities(probability, text, open_)
        unplaced = [v for v in open_ if pd.isna(mean.get(v))] if configured else []
        if configured:
            checks.append(
                "stage_probabilities: each open stage's most common probability on the export's "
                "deals (what the CRM shows for the stage, not a win rate measured on the data; "
                "a flat export's model counts their odds as far as its closed deals bear them "
                "out): check"
            )
        checks += [
            f"stage {value!r}: its deals show no probability, so its place in the funnel is not "
            "known (listed last, not placed): move it where it belongs, and give it a "
            "stage_probabilities value if the CRM has one; without, it scores as a deal at "
            "creation (the data's rate), not as the stage beside it"
            for value in unplaced
        ]
    elif (stock := _stock_order(open_)) is not None:
        crm, open_ = stock
        checks = [
            f"stages.open: in the order of {crm}'s stock pipeline, whose stages they are: check"
        ]
    else:
        checks = [
            "stages.open: listed by how many deals are in each (or, where closed deals keep their "
            "stage, by the share of them won), as the export does not say their order: put them "
            "in funnel order, first to last"
        ]
    checks += zero_checks
    lines = ["stages:", "  open:   # in funnel order: check"]
    lines += [
        f"    - {quoted(v)}"
        + ("   # no probability in the export: place it" if v in unplaced else "")
        for v in open_
    ] or ["    - ???"]
    lines.append(f"  won: {quoted(won[0]) if won else '???'}")
    lines.append(f"  lost: {quoted(lost[0]) if lost else '???'}")
    lines += configured
    names = dict(spellings or {})
    for extra in won[1:] + lost[1:]:
        names[extra] = won[0] if extra in won else lost[0]
    if names:
        lines.append(f"stage_names:   # other names of the {'stages' if spellings else 'outcomes'}")
        lines += [f"  {quoted(k)}: {quoted(v)}" for k, v in names.items()]
    if not won or not lost:
        checks.append("the outcomes (won, lost) could not be told from the stage values")
    if len(counts) > MAX_STAGES:
        checks.append(f"only the {MAX_STAGES} most frequent stage values are listed")
    return lines, checks


#: Rows of each stage the sample lacks read from the rest of the file.
ROWS_PER_UNSEEN_STAGE = 200


def with_every_stage(
    file: Path,
    csv: CsvOptions,
    sample: pd.DataFrame,
    column: str,
    counts: pd.Series,
    pipelines: Pipelines | None = None,
) -> pd.DataFrame:
    """The sample with rows of the stages (`counts`: the whole file's) it holds none of, read
    from the rest of the file: an export sorted by creation keeps its newest deals, those in
    the first stages, past the first rows, and a stage the draft sees no deal of has no
    probability nor place in the funnel. `pipelines`: the one whose rows a draft keeps."""
    seen = set(sample[column].dropna().astype("str").str.strip())
    unseen = [str(v) for v in counts.index[:MAX_STAGES] if str(v) not in seen]
    if not unseen:
        return sample
    found: list[pd.DataFrame] = []
    for chunk in iter_table(file, 200_000, [], csv):
        chunk = chunk if pipelines is None else chunk[pipelines.rows(chunk).to_numpy(dtype=bool)]
        stage = chunk[column].astype("str").str.strip().where(chunk[column].notna())
        rows = chunk[stage.isin(unseen).to_numpy()]
        found.append(rows.groupby(stage[rows.index]).head(ROWS_PER_UNSEEN_STAGE))
    extra = pd.concat(found).groupby(column).head(ROWS_PER_UNSEEN_STAGE) if found else None
    return sample if extra is None or extra.empty else pd.concat([sample, extra], ignore_index=True)


#: The CRMs whose stock stages a draft knows the funnel order of (their presets').
STOCK_PIPELINES = ("hubspot", "salesforce")


def _stock_order(open_: list[str]) -> tuple[str, list[str]] | None:
    """The open stages in a CRM's stock funnel order, and the CRM, where all of them (two or
    more) are its stock stages (by label or internal name): an export without probabilities
    says nothing of their order, and a count of deals per stage is no funnel order."""
    if len(open_) < 2:
        return None
    for crm in STOCK_PIPELINES:
        stages = load_mapping(crm).stage_set
        order = {loose_key(v): i for i, v in enumerate(stages.open_stages)}
        order |= {
            loose_key(a): order[loose_key(v)]
            for a, v in stages.aliases.items()
            if loose_key(v) in order
        }
        if all(loose_key(v) in order for v in open_):
            return crm, sorted(open_, key=lambda v: order[loose_key(v)])
    return None


def _at_zero(probability: pd.Series, stage: pd.Series, open_: list[str]) -> list[str]:
    """The open stages whose every sampled deal has a probability of 0: a loss's mark (Bitrix24
    keeps its lost deals in "Analyze failure" at 0%), where the stage's name does not say so."""
    out = []
    for value in open_:
        found = probability[(stage == value).to_numpy()]
        if len(found) and found.notna().all() and bool((found == 0).all()):
            out.append(value)
    return out


#: What a drafted `stage_probabilities:` block is: read off the export's deals (what the CRM
#: shows for each stage there), not given by the user nor measured as win rates (reasons and
#: notes say so); a user who checked them may say `mapping`.
ESTIMATED = (
    "stage_probabilities_from: estimated   # read off the export's deals, not win rates "
    "measured on them"
)


def _stage_probabilities(probability: pd.Series, stage: pd.Series, open_: list[str]) -> list[str]:
    """The `stage_probabilities:` block: each open stage's most common probability among the
    sample's deals (a CRM fills it from the stage's setting; reps edit a few), as 0–1. A 0 or
    a 100% is an outcome's (Odoo keeps a lost deal in its stage at 0%): left out where the
    stage shows any other value."""
    scale = 100.0 if probability.max() > 1 else 1.0
    lines = []
    for value in open_:
        found = probability[(stage == value).to_numpy()].dropna()
        between = found[(found > 0) & (found < scale)]
        found = between if len(between) else found
        if len(found):
            p = float(found.mode().iloc[0]) / scale
            if 0 <= p <= 1:
                lines.append(f"  {quoted(value)}: {round(p, 4)}")
    head = "stage_probabilities:   # each stage's most common in the export: check"
    return [ESTIMATED, head, *lines] if lines else []


def _word_count(value: str) -> int:
    return len(WORDS.findall(value))


def is_outcome(value: object) -> bool:
    """True where a stage or status value says won or lost."""
    return says(str(value), WON_WORDS + LOST_WORDS)


def says(value: str, words: tuple[str, ...]) -> bool:
    """True where the value's first or last words are one of `words` ("Closed Won", "Lost -
    no budget", "ClosedLost"); whole words only, so Dynamics' "4-Close" says nothing of a
    loss."""
    parts = [p.casefold() for p in WORDS.findall(unaccented(value))]
    runs = {"".join(parts[:i]) for i in range(1, len(parts) + 1)}
    runs |= {"".join(parts[-i:]) for i in range(1, len(parts) + 1)}
    return any(w in runs for w in words)


#: A value's words: camel case split ("ClosedWon"), digits apart.
WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")


def quoted(text: str) -> str:
    """A YAML scalar for `text`, quoted where it must be."""
    plain = text and text[0].isalpha() and all(ch.isalnum() or ch in " _-./()%" for ch in text)
    if (
        plain
        and text.strip() == text
        and text.lower() not in ("yes", "no", "true", "false", "null")
    ):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def probabilities(values: pd.Series) -> pd.Series:
    """A probability column as numbers: "40%" and a decimal comma ("7,00") read too (a
    probability has no thousands to group)."""
    text = values.astype("str").str.strip().str.rstrip("%").str.strip()
    return pd.to_numeric(text.str.replace(",", ".", regex=False), errors="coerce")
