"""Scoring for serving: the champion models held in memory, and one service that scores rows.

The models served, per dataset (`ModelSet`, `Served`, `load_model_set`), are
`forecast.model_set`'s, named here too: serving reads them as `scoring.*`.

`score` is the one scoring path, in three named steps (pre-process → predict → post-process):
`encode` turns the rows (mappings of field → value) into the model's float matrix, `predict`
gives each row's probability and per-input contributions from one leaf lookup for the batch
(the raw score is the sum of the leaves' values and the contributions are read from a per-leaf
table, both made once per model: `forecast.modeling.contributions`; a logistic regression or
naive Bayes champion gives its exact per-field log-odds terms the same way,
`forecast.modeling.families`), and `explain` turns them into `Score`s with reasons for the top
factors only.
One row is a batch of one; the fallbacks go through the same three steps. No DataFrame is built,
so one row scores well under a millisecond.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, NamedTuple

import numpy as np

from forecast.collector import collector_held_off
from forecast.column_rows import column_of
from forecast.data.reading import Notation, value_number
from forecast.deal_inputs import deal_row as deal_row  # serving reads `scoring.deal_row`
from forecast.lead_columns import with_set_flags
from forecast.lead_fields import LeadFields, say_no_time_of_day, say_undated, say_unread_values
from forecast.model_set import (  # noqa: F401 - named here too: serving reads `scoring.*`
    CHAMPION_BROKEN,
    DATASET_MISSING,
    DEAL,
    LEAD,
    LEAD_DATASET_MISSING,
    REGISTRY_DOWN,
    DealContext,
    ModelSet,
    Served,
    deal_context,
    load_model_set,
)
from forecast.modeling import lead_dates
from forecast.modeling import unlearnt_blanks as blanks
from forecast.modeling.contributions import raw_scores
from forecast.modeling.estimators import grades_for, to_score
from forecast.modeling.reasons import Wording, is_blank, top_reasons
from forecast.modeling.scorers import MODEL, STAGE_WIN_RATE, Scorer
from forecast.modeling.seen_ranges import beyond_seen
from forecast.score_plans import IGNORED, Levels, read_plan
from forecast.score_plans import plan_of as _plan
from forecast.text_levels import NONE as _NONE
from forecast.text_levels import picked as _picked
from forecast.text_levels import text_codes
from forecast.text_levels import unseen as _unseen

#: Batches of at least this many rows are explained with the cycle collector held off.
PAUSE_COLLECTOR_FROM = 1000
#: Batches of at least this many rows are encoded column by column.
BY_COLUMN_FROM = 16
#: Grade cut points for fallback scores that rank (a model stores its own).
FALLBACK_CUTS = (0.75, 0.5, 0.25)
#: Said of each score of a fallback with one rate for every row (`Scorer.ranks`): no grade.
NO_GRADE = {
    LEAD: "no model yet: every lead has the base rate; no grade",
    DEAL: "no model yet: every deal has the overall win rate; no grade",
}
#: Up to this many rows, scores and grades are made in Python (numpy's calls cost more).
IN_PYTHON_UP_TO = 8


@dataclass(slots=True)  # not frozen: a frozen dataclass costs 5 µs to make, 10,000 of them 50 ms
class Score:
    probability: float
    score: int
    grade: str | None  # None: a fallback that ranks nothing (`NO_GRADE` in `notes`)
    reasons_for: list[dict[str, Any]]
    reasons_against: list[dict[str, Any]]
    model: str
    version: str | None
    method: str  # "model" | "stage_win_rate" | "base_rate"
    label: str  # says in words what scored it, fallback included
    #: What the score could not use, said (`lead_fields`): fields ignored or read under another
    #: name, values scored as blank. Made only for rows as a client sent them (`as_sent`).
    notes: Sequence[str] = ()


# --- scoring: encode -> predict -> explain ----------------------------------------------------


class Encoded(NamedTuple):  # not a frozen dataclass: one costs microseconds to make
    """Rows as the scorer reads them: `matrix` holds one float row per request row; `parts` says
    which fitted model scores which rows (one part, unless teams have models of their own)."""

    rows: Sequence[Mapping[str, Any]]
    matrix: np.ndarray
    parts: tuple[tuple[Any, np.ndarray], ...] = ()
    #: The rows where a text input's value found no level (new, or too rare in training): their
    #: "is blank" reasons are said with the value. None: not looked for (every row is checked).
    unseen: np.ndarray | None = None


class Prediction(NamedTuple):
    """Per row: the calibrated probability, and each input's contribution to the raw score
    (log-odds; with the model's bias they sum to it). A fallback's contributions are zero; a
    prediction made without contributions has none (no columns)."""

    probabilities: np.ndarray
    contributions: np.ndarray


def score(
    served: Served,
    rows: Sequence[Mapping[str, Any]],
    top: int = 3,
    *,
    strict_dates: bool = True,
    as_sent: bool = False,
) -> list[Score]:
    """Rows given as field → value, each scored with its `top` reasons for and against.

    One row is a batch of one: `score(served, [row])[0]`. Fields the model does not know are
    ignored; a missing field or a category never seen in training scores as blank. A lead's
    `created_at` that is no date raises `InvalidInput` naming it; with `strict_dates` False
    (a batch) that lead is scored as undated instead, as is one with none, which its notes say
    (`lead_dates.with_date_inputs`; the API scores a lead sent without one as created now).
    `as_sent`: leads as a client sent them (the API's): a field name spelt otherwise is read
    under the model's own, and each score's `notes` say the names it ignored or read as
    another and a creation date without a time of day (`lead_fields`). Leads either way read a
    yes/no word as training learnt the input (`_yes_no_read`), and their notes say a value the
    model could not use (looked for only in the rows where encoding found one: a batch's file
    has the model's own names, and pays nothing a row for this). A deal older, or longer in its
    stage, than any the model learnt from is said (`seen_ranges`).
    """
    notes = None
    lead_model = served.kind == LEAD and served.scorer.method == MODEL
    fields = lead_fields_of(served) if lead_model else None
    if fields is not None and as_sent:
        rows, notes = fields.matched(rows)
    encoded = encode(served, rows, strict_dates=strict_dates)
    if fields is not None:
        encoded = _yes_no_read(served, fields, _with_unread(encoded), strict_dates)
    # A deal's blank its model never learnt from: left neutral, no reason, said
    unlearnt = served.kind == DEAL and blanks.has_any(encoded.parts, encoded.matrix)
    predicted = predict(served, encoded, contributions=top > 0 or unlearnt)
    unlearnt_notes: dict[int, list[str]] = {}
    if unlearnt:  # before the reasons: the input's contribution said is then 0
        labels = _wording(served, encoded.parts[0][0]).labels
        p, terms = predicted.probabilities, predicted.contributions
        unlearnt_notes = blanks.neutral(
            encoded.parts, encoded.rows, encoded.matrix, p, terms, labels
        )
    scores = explain(served, encoded, predicted, top)
    for i, said_blank in unlearnt_notes.items():
        scores[i].notes = [*scores[i].notes, *said_blank]
    if served.kind == DEAL and encoded.parts:  # a deal older than the model saw: said
        columns = encoded.parts[0][0].encoder_.columns  # teams' models share the inputs
        for i, note in beyond_seen(served.scorer.model, columns, encoded.matrix):
            scores[i].notes = [*scores[i].notes, note]
    if fields is not None:
        said = _unread_notes(served, encoded)
        if notes is not None:  # as sent: after what its names said, and the time of day
            for i, unread in said.items():
                notes[i].extend(unread)
            say_no_time_of_day(served.date_inputs, served.created_column, encoded.rows, notes)
            said = dict(enumerate(notes))
        if not strict_dates:  # a batch's lead with a blank creation date: scored as undated
            say_undated(served.date_inputs, served.created_column, encoded.rows, said)
        for i, these in said.items():
            if these:
                scores[i].notes = these
    return scores


def encode(
    served: Served, rows: Sequence[Mapping[str, Any]], *, strict_dates: bool = True
) -> Encoded:
    """Pre-process: each row's model inputs as floats, as the model's encoder encodes a frame
    (text as the code of a level seen in training; unknown levels, blanks and text in a number
    field as NaN, which the model routes as missing). A lead's `created_at` is read (and
    checked) whatever model scores it; a lead model that learnt from when leads came in gets
    its date inputs from it."""
    scorer = served.scorer
    if served.kind == LEAD:
        rows = lead_dates.with_date_inputs(
            rows,
            served.date_inputs,
            strict=strict_dates,
            own_name=served.created_column,
            formats=served.date_formats,
        )
        rows = with_set_flags(rows, served.set_inputs)  # a date given: 1, whatever the date
    if scorer.method != MODEL:
        return Encoded(rows, scorer.fallback_inputs(rows))
    parts = _parts(scorer.model, rows)
    numbers = served.numbers
    if len(parts) == 1:  # one model for every row
        model = parts[0][0]  # its inputs the trees never read are not encoded (`inputs_read`)
        matrix, unseen = _encode_and_unseen(model.encoder_, rows, numbers, model)
        return Encoded(rows, matrix, tuple(parts), unseen)
    matrix = np.empty((len(rows), scorer.model.n_features_in_))
    found: list[np.ndarray] | None = []
    for model, index in parts:
        part = [rows[i] for i in index]
        matrix[index], unseen = _encode_and_unseen(model.encoder_, part, numbers)
        if found is not None:
            found = None if unseen is None else [*found, index[unseen]]
    return Encoded(rows, matrix, tuple(parts), None if found is None else _union(found))


def _yes_no_read(
    served: Served, fields: LeadFields, encoded: Encoded, strict_dates: bool
) -> Encoded:
    """The leads with each yes/no word read as training learnt the input (`LeadFields`). Only
    the rows where a value found no level or was no number can hold one spelt otherwise: those
    are looked at, and encoded again where one was (a usual batch: none, at no cost a row)."""
    rows = encoded.rows
    check = range(len(rows)) if encoded.unseen is None else encoded.unseen.tolist()
    spelt = {i: new for i in check if (new := fields.spelt_as_learnt(rows[i])) is not rows[i]}
    if not spelt:
        return encoded
    rows = [spelt.get(i, row) for i, row in enumerate(rows)]
    changed = np.fromiter(spelt, np.intp, len(spelt))
    again = encode(served, list(spelt.values()), strict_dates=strict_dates)
    encoded.matrix[changed] = again.matrix
    unseen = encoded.unseen
    if unseen is not None:  # a changed row still unread (another input's value) stays so
        still = changed[again.unseen] if again.unseen is not None else changed
        unseen = _union([np.setdiff1d(unseen, changed), still])
    return Encoded(rows, encoded.matrix, encoded.parts, unseen)


def predict(served: Served, encoded: Encoded, contributions: bool = True) -> Prediction:
    """Predict: probabilities and per-input contributions, from one leaf lookup per model for
    the batch (the raw score is the sum of the leaves' values) or a simple family's own terms.
    Without `contributions` (no reasons wanted) the table is not read: the contributions come
    back with no columns, the probabilities the same."""
    scorer = served.scorer
    matrix = encoded.matrix
    if scorer.method != MODEL:
        return Prediction(scorer.fallback_rates(matrix), np.zeros(matrix.shape))
    width = matrix.shape[1] if contributions else 0
    if len(encoded.parts) == 1:  # one model for every row: no copy in or out
        [(model, _)] = encoded.parts
        raw, contrib = raw_scores(model, matrix, contributions)
        return Prediction(
            model._calibrate(raw), contrib if contrib is not None else np.zeros((len(raw), 0))
        )
    p = np.empty(len(matrix))
    every = np.empty((len(matrix), width))
    for model, index in encoded.parts:
        raw, contrib = raw_scores(model, matrix[index], contributions)
        p[index] = model._calibrate(raw)
        if contrib is not None:
            every[index] = contrib[:, :width]
    return Prediction(p, every)


def explain(served: Served, encoded: Encoded, predicted: Prediction, top: int = 3) -> list[Score]:
    """Post-process: a `Score` per row, with grade (none from a fallback that ranks nothing) and
    the reasons for its `top` factors for and against, in the user's own field names (a
    fallback says what it scored by). Reasons are made for the top factors only; without
    reasons no row's inputs are read again."""
    if len(predicted.probabilities) < PAUSE_COLLECTOR_FROM:
        return _explain(served, encoded, predicted, top)
    with collector_held_off():
        return _explain(served, encoded, predicted, top)


def _explain(served: Served, encoded: Encoded, predicted: Prediction, top: int) -> list[Score]:
    scorer = served.scorer
    p = predicted.probabilities
    n = len(p)
    probabilities = p.tolist()
    if scorer.method == MODEL:
        grade = scorer.model.grade
        if n <= IN_PYTHON_UP_TO:  # the model's own cut points, compared one by one
            grades = [grade(q) for q in probabilities]
        else:
            grades = np.asarray(grade(p)).tolist()
        said: list[tuple[list, list]] | None
        if top > 0:
            said = [([], [])] * n
            for model, index in encoded.parts:
                if len(index) == n:  # one model for every row: its reasons are in row order
                    said = top_reasons(
                        _wording(served, model).plains, encoded.matrix, predicted.contributions, top
                    )
                    continue
                reasons = top_reasons(
                    _wording(served, model).plains,
                    encoded.matrix[index],
                    predicted.contributions[index],
                    top,
                )
                for i, pair in zip(index.tolist(), reasons, strict=True):
                    said[i] = pair
            _say_rare_values(served, encoded, said)
        else:  # no reasons: each row's Score made at once below, with lists of its own
            said = None
    else:
        grades = grades_for(p, FALLBACK_CUTS).tolist() if scorer.ranks else [None] * n
        said = [
            ([_fallback_reason(scorer, row, q)] if top > 0 else [], [])
            for row, q in zip(encoded.rows, probabilities, strict=True)
        ]
    if n <= IN_PYTHON_UP_TO:
        scores = [int(to_score(q)) for q in probabilities]
    else:
        scores = np.asarray(to_score(p)).tolist()
    name, version, method, label = served.name, served.version, scorer.method, scorer.label
    if said is None:
        return [
            Score(q, s, g, [], [], name, version, method, label)
            for q, s, g in zip(probabilities, scores, grades, strict=True)
        ]
    notes = () if scorer.ranks else (NO_GRADE[served.kind],)
    return [
        Score(q, s, g, up, down, name, version, method, label, notes)
        for q, s, g, (up, down) in zip(probabilities, scores, grades, said, strict=True)
    ]


def _say_rare_values(served: Served, encoded: Encoded, said: list[tuple[list, list]]) -> None:
    """Each "is blank" reason that was a text value the model never learnt (new, or too rare in
    training) said with the value (`Wording.with_rare_values`), in the rows where encoding found
    one (every row where it did not look: a few rows)."""
    unseen = encoded.unseen
    if unseen is not None and not len(unseen):
        return
    wording = None
    rows = encoded.rows
    for i in range(len(said)) if unseen is None else unseen.tolist():
        up, down = said[i]
        if not any(r["value"] is None for r in up + down):  # no "is blank": nothing to redo
            continue
        if wording is None:  # teams' models share the inputs' names
            wording = _wording(served, encoded.parts[0][0])
        said[i] = (wording.with_rare_values(up, rows[i]), wording.with_rare_values(down, rows[i]))


def lead_fields_of(served: Served) -> LeadFields:
    """The served lead model's inputs by name (`lead_fields`), made once per model served."""
    names = (lead_dates.CREATED, *([served.created_column] if served.created_column else []))
    if served.fields is None or served.fields.created_names != names:
        model = served.scorer.model
        fitted = model if getattr(model, "encoder_", None) is not None else model.global_
        encoder = fitted.encoder_
        flags = getattr(fitted, "zero_one_inputs_", ())  # none in a model trained before them
        served.fields = LeadFields(list(encoder.columns), names, encoder.levels, flags)
    return served.fields


def _with_unread(encoded: Encoded) -> Encoded:
    """`encoded` with the rows holding a value that reached the model as a blank though sent
    (`Encoded.unseen`), found once for a few rows (a batch's encoding finds them itself), so
    the yes/no reading and the notes look at those rows only: usually none."""
    if encoded.unseen is not None or not encoded.parts:
        return encoded
    plan = _read_by(encoded)
    unread = []
    for i, (row, xs) in enumerate(zip(encoded.rows, encoded.matrix.tolist(), strict=True)):
        for (c, levels), x in zip(plan, xs, strict=True):  # plain loops: a generator costs more
            # NaN: a blank reached the model (most were sent as None: no call for those)
            if (
                x != x
                and levels is not IGNORED
                and (v := row.get(c)) is not None
                and not is_blank(v)
            ):
                unread.append(i)
                break
    unseen = np.array(unread, dtype=np.intp) if unread else _NONE
    return Encoded(encoded.rows, encoded.matrix, encoded.parts, unseen)  # `_replace` costs µs


def _unread_notes(served: Served, encoded: Encoded) -> dict[int, list[str]]:
    """`lead_fields.say_unread_values` by row, looked for only in the rows a batch found such
    values in (`Encoded.unseen`; every row of a few): the other rows, a usual batch's all, get
    nothing made for them."""
    check = range(len(encoded.rows)) if encoded.unseen is None else encoded.unseen.tolist()
    if not encoded.parts or not check:
        return {}
    model = encoded.parts[0][0]  # teams' models share the inputs
    rows = [encoded.rows[i] for i in check]
    notes: list[list[str]] = [[] for _ in check]
    labels = _wording(served, model).labels
    plan, matrix = _read_by(encoded), encoded.matrix[list(check)]
    read = [j for j, (_, levels) in enumerate(plan) if levels is not IGNORED]
    say_unread_values(
        [plan[j] for j in read], rows, matrix[:, read], range(len(rows)), labels, notes
    )
    return {i: said for i, said in zip(check, notes, strict=True) if said}


def _read_by(encoded: Encoded) -> list[tuple[str, Levels | None]]:
    """The plan the rows were encoded by: one model's, without the inputs its trees never
    read; teams' models (which share the inputs) read every one."""
    model = encoded.parts[0][0]
    plan = _plan(model.encoder_)
    return read_plan(model, plan) if len(encoded.parts) == 1 else plan


def _wording(served: Served, model: Any) -> Wording:
    """The model's inputs said in the user's words, made on first use and kept while served (a
    per-team model's parts share the labels of the whole)."""
    wording = served.wordings.get(id(model))
    if wording is None or wording.encoder is not model.encoder_:
        labels = getattr(served.scorer.model, "field_labels_", None) or {}
        said = Wording(model.encoder_, labels, served.numbers, served.set_inputs)
        wording = served.wordings[id(model)] = said
    return wording


def _parts(model: Any, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, np.ndarray]]:
    """Which fitted model scores which rows: per-team models take their team's rows."""
    if not rows:
        return []
    if not getattr(model, "teams_with_own_model", None):  # one model for every row
        return [(model.model_for_row(rows[0]), np.arange(len(rows)))]
    chosen = [model.model_for_row(row) for row in rows]
    keys = np.array([id(m) for m in chosen])
    return [(m, np.flatnonzero(keys == key)) for key, m in {id(m): m for m in chosen}.items()]


def _encode(
    encoder: Any, rows: Sequence[Mapping[str, Any]], numbers: Notation = None
) -> np.ndarray:
    """Rows as `FeatureEncoder.transform` encodes a frame, straight from the mappings: text as
    the code of its level (NaN when blank or never seen), numbers as floats; numpy turns the
    values into floats in one call. A number sent as text is read as the dataset's export
    writes numbers (`numbers`: its decimal and thousands marks; a currency allowed), other text
    as blank. A few rows are read row by row; more, column by column (`_encode_by_column`)."""
    return _encode_and_unseen(encoder, rows, numbers)[0]


def _encode_and_unseen(
    encoder: Any, rows: Sequence[Mapping[str, Any]], numbers: Notation = None, model: Any = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """`_encode`, and the rows where a value found no level or was no number (`Encoded.unseen`:
    None where they were not looked for, a few rows)."""
    plan = _plan(encoder) if model is None else read_plan(model, _plan(encoder))
    if len(rows) >= BY_COLUMN_FROM:
        return _encode_by_column(plan, rows, numbers)
    nan = math.nan
    # A few rows (the API's one): flat lists, `level` written out (no call per input).
    values = [
        [
            row.get(col)
            if levels is None
            else nan
            if (v := row.get(col)) is None
            else levels[v if v.__class__ is str else str(v)]  # " Google " finds Google
            for col, levels in plan
        ]
        for row in rows
    ]
    if numbers is not None:  # text in the dataset's notation: "1.200" is 1200, not 1.2
        values = [
            [value_number(v, numbers) if v.__class__ is str else v for v in r] for r in values
        ]
    try:  # numpy reads None as NaN and numeric text as its number, all at once
        matrix = _no_infinity(np.array(values, dtype=float).reshape(len(rows), len(plan)))
    except (TypeError, ValueError):  # something that is no number: read as the export writes
        matrix = np.array([[value_number(v, numbers) for v in r] for r in values], dtype=float)
    return matrix, None


def _encode_by_column(
    plan: list[tuple[str, Levels | None]],
    rows: Sequence[Mapping[str, Any]],
    numbers: Notation = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A batch encoded column by column, as `level` encodes each value, with the per-value
    work in C: a column's values taken as a batch file holds them (`ColumnRows`) or read by
    `map` of an `itemgetter` over the rows, a text
    column's codes looked up by `map` over its levels' `get` (`text_levels.text_codes`)."""
    out = np.empty((len(plan), len(rows)))
    unseen = []
    for j, (col, levels) in enumerate(plan):
        if levels is IGNORED:  # the trees never read it: blank, and no value of it said
            out[j] = math.nan
            continue
        values = column_of(rows, col)  # a batch file's column as it is
        if values is None:
            try:
                values = list(map(itemgetter(col), rows))
            except KeyError:  # some row leaves the input out: blank there
                values = [row.get(col) for row in rows]
        if levels is not None:
            out[j], rare = text_codes(values, levels)
            unseen.append(rare)
            continue
        if numbers is None or str not in set(map(type, values)):
            try:  # numpy reads None as NaN and numeric text as its number, all at once
                out[j] = values
            except (TypeError, ValueError):
                pass
            else:
                # "inf" and "nan" as text read as numbers: no number. Blanks are None, which
                # `count` finds by identity: only the values read as NaN are looked at.
                missed = np.flatnonzero(~np.isfinite(out[j]))
                if len(missed) and _picked(values, missed).count(None) < len(missed):
                    out[j][missed] = math.nan
                    unseen.append(_unseen(values, missed))
                continue
        # text in the dataset's notation, or what numpy cannot read: as the export writes it
        out[j] = [value_number(v, numbers) for v in values]
        unseen.append(_unseen(values, np.flatnonzero(np.isnan(out[j]))))
    return np.ascontiguousarray(out.T), _union(unseen)


def _no_infinity(matrix: np.ndarray) -> np.ndarray:
    """The matrix with the infinities numpy reads from text ("inf") as blanks (in place): the
    API refuses an infinite number, and its text is no number either."""
    infinite = np.isinf(matrix)
    if infinite.any():
        matrix[infinite] = math.nan
    return matrix


def _union(positions: list[np.ndarray]) -> np.ndarray:
    positions = [p for p in positions if len(p)]
    return np.unique(np.concatenate(positions)) if positions else _NONE


def _fallback_reason(scorer: Scorer, row: Mapping[str, Any], p: float) -> dict[str, Any]:
    if scorer.method == STAGE_WIN_RATE:
        stage = row.get(scorer.stage_column)
        return {
            "field": "Stage",
            "value": stage,
            "contribution": 0.0,
            "sentence": scorer.rate_sentence(stage, p),
        }
    return {
        "field": "(all leads)",
        "value": None,
        "contribution": 0.0,
        "sentence": f"base conversion rate {p:.0%} (no champion model yet)",
    }
