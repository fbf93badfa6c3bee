"""Why a row scored as it did: the top factors for and against, in the user's own words.

From per-feature contributions of the LightGBM model (log-odds units, summing with the bias to
the raw score): by default the fast path decomposition of `forecast.modeling.contributions`, or
exact TreeSHAP (`pred_contrib=True`) with `method="shap"`. A logistic regression or naive Bayes
champion (`forecast.modeling.families`) gives its exact per-field terms instead (coef × (x −
training mean) summed per field; each field's log-likelihood ratio), said the same way. Each
factor is mapped back to the user's original field name and value and said in plain words,
e.g. "Lead Source = Reference: raises the score". A model's encoder may say an input its own way
(`say`): the stage-prior deal model (`forecast.modeling.stage_prior`) says the stage's term as
the CRM's stage probability.

The pieces are shared by the scoring service (`forecast.scoring`, which serves the API) and by
`explain` below (training reports, a DataFrame): `top_factors` picks, for a whole batch at once,
the inputs that moved each row most; `Wording` says each in words, making every distinct sentence
once; `top_reasons` puts the two together.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import numpy as np
import pandas as pd

from forecast.formatting import in_notation
from forecast.modeling.contributions import contributions

if TYPE_CHECKING:
    from forecast.data.reading import Notation

#: Contributions smaller than this (log-odds) are not worth saying.
MIN_CONTRIBUTION = 1e-6
#: Up to this many rows, each row's factors are picked in Python (fewer array calls).
SORTED_IN_PYTHON_UP_TO = 4
#: Sentences a `Wording` keeps made; past this it starts afresh (a served model's wording lives
#: as long as the model, and a number input can take any value).
MAX_SENTENCES_KEPT = 50_000

Said = TypeVar("Said")
#: A reason's field, value and sentence, JSON-ready (its contribution is each factor's own).
Plain = tuple[str, Any, str]
#: Many factors' columns, codes or contributions: a list, or an array from the batch's pick.
Values = Sequence[Any] | np.ndarray


class Reason(NamedTuple):
    field: str
    value: object
    contribution: float
    sentence: str


def format_value(feature: str, value: object, notation: Notation = None) -> str:
    """A value as a person reads it: rates as percents, whole numbers without decimals, numbers
    written as the dataset's export writes them (`notation`: "1.234,5" in a German export)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "blank"
    if isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool):
        number = float(value)
        if feature.endswith("_win_rate"):
            return f"{number:.0%}"
        if number.is_integer():
            return in_notation(f"{int(number):,}", notation)
        return in_notation(f"{number:,.1f}" if abs(number) >= 10 else f"{number:.2f}", notation)
    return str(value)


def factor(
    feature: str, label: str, value: object, contribution: float, notation: Notation = None
) -> Reason:
    """One input's effect said in words, e.g. "Lead Source = Reference: raises the score"."""
    shown = format_value(feature, value, notation)
    effect = "raises the score" if contribution > 0 else "lowers the score"
    text = f"{label} is blank: {effect}" if shown == "blank" else f"{label} = {shown}: {effect}"
    return Reason(label, None if shown == "blank" else value, float(contribution), text)


def set_factor(label: str, value: object, contribution: float) -> Reason:
    """A column of dates learnt as whether one is given (`lead_columns.set_flags`) said so:
    "Trial Started is set" or "is blank", never "= 1" (its value: True, or None for blank)."""
    effect = "raises the score" if contribution > 0 else "lowers the score"
    given = isinstance(value, (int, float, np.floating, np.integer)) and value == 1
    text = f"{label} is {'set' if given else 'blank'}: {effect}"
    return Reason(label, True if given else None, float(contribution), text)


def not_a_number(label: str, value: object, contribution: float) -> str:
    """A number input sent text that reads as no number (in the dataset's own notation): said
    with its value, since "is blank" would be false, and how it was scored."""
    effect = "raises the score" if contribution > 0 else "lowers the score"
    return f"{label} = {value!r} (not a number: scored as blank): {effect}"


def rare_value(label: str, value: object, contribution: float) -> str:
    """A text input whose value the model never learnt (new, or too rare in training): said
    with its value, since "is blank" would be false, and how it was scored."""
    effect = "raises the score" if contribution > 0 else "lowers the score"
    return f"{label} = {value} (not among the values the model learnt: scored as blank): {effect}"


def is_blank(value: object) -> bool:
    """A value that says nothing: None, NaN, pandas' NA or empty text."""
    if value is None or value is pd.NA:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return isinstance(value, str) and not value.strip()


def plain(reason: Reason) -> dict[str, Any]:
    """A reason as JSON-ready data: no numpy types, no NaN, the contribution to 4 places."""
    value = reason.value.item() if isinstance(reason.value, np.generic) else reason.value
    if isinstance(value, float) and math.isnan(value):
        value = None
    return {
        "field": reason.field,
        "value": value,
        "contribution": round(reason.contribution, 4),
        "sentence": reason.sentence,
    }


def top_factors(
    contrib: np.ndarray, top: int, min_contribution: float = MIN_CONTRIBUTION
) -> tuple[list[list[int]], list[list[int]]]:
    """Per row of `contrib` (rows × inputs): the columns of its `top` largest positive and its
    `top` largest negative contributions, largest first; those under `min_contribution` in size
    are left out. One sort for the whole batch."""
    contrib = np.atleast_2d(contrib)
    n, d = contrib.shape
    k = min(top, d)
    if k <= 0:
        return [[] for _ in range(n)], [[] for _ in range(n)]
    order = np.argsort(contrib, axis=1, kind="stable")
    # Sorted, so the ones worth saying lead each row: as many as clear the bar, at most `top`.
    n_up = (contrib > min_contribution).sum(axis=1).tolist()
    n_down = (contrib < -min_contribution).sum(axis=1).tolist()
    return (
        [row[:m] for row, m in zip(order[:, : -k - 1 : -1].tolist(), n_up, strict=True)],
        [row[:m] for row, m in zip(order[:, :k].tolist(), n_down, strict=True)],
    )


class Wording:
    """One model's inputs said in the user's words, each distinct sentence made once.

    `encoder` is the model's fitted `FeatureEncoder` (it turns a code back into the user's value);
    `labels` maps model columns to the user's own field names; `notation`, how the dataset's
    export writes numbers, is how the sentences write them; `flags`, the inputs that are a
    column of dates learnt as whether one is given, said "is set" or "is blank" (`set_factor`).
    """

    def __init__(
        self,
        encoder: Any,
        labels: Mapping[str, str],
        notation: Notation = None,
        flags: Iterable[str] = (),
    ) -> None:
        self.encoder = encoder
        self.labels = labels
        self.notation = notation
        self.flags = frozenset(flags)
        #: (input, code, raises) → the reason, and its field, value and sentence as JSON-ready.
        self._said: dict[tuple[int, float | None, bool], tuple[Reason, Plain]] = {}
        #: The user's field name → the model's text input it names (blank codes said there
        #: may stand for a value never learnt: `with_rare_values`).
        self.text_inputs = {labels.get(c, c): c for c in getattr(encoder, "levels", {})}
        #: The same for its number inputs (a blank code there may be text that is no number);
        #: a flag is never blank (a blank is its 0).
        self.number_inputs = {
            labels.get(c, c): c
            for c in getattr(encoder, "columns", ())
            if c not in getattr(encoder, "levels", {}) and c not in self.flags
        }

    def unlearnt_value(self, field: str, row: Mapping[str, Any]) -> object | None:
        """The row's value of the input a reason names `field`, where the reason said it blank
        but the row has one (a text the model never learnt, or text that is no number); else
        None."""
        column = self.text_inputs.get(field) or self.number_inputs.get(field)
        value = row.get(column) if column is not None else None
        return None if is_blank(value) else value

    def with_rare_values(self, reasons: list[dict[str, Any]], row: Mapping[str, Any]) -> list:
        """`reasons` (plain) of one row, each "is blank" that was a value the model could not
        use said with that value (`rare_value`, `not_a_number`)."""
        out = reasons
        for i, r in enumerate(reasons):
            value = self.unlearnt_value(r["field"], row) if r["value"] is None else None
            if value is None:
                continue
            if out is reasons:
                out = list(reasons)
            said = rare_value if r["field"] in self.text_inputs else not_a_number
            sentence = said(r["field"], value, r["contribution"])
            out[i] = {**r, "value": value, "sentence": sentence}
        return out

    def _lookup(self, j: int, code: float, contribution: float) -> tuple[Reason, Plain]:
        key = (j, code if code == code else None, contribution > 0)  # NaN keys never match
        said = self._said.get(key)
        if said is None:
            if len(self._said) >= MAX_SENTENCES_KEPT:  # numbers can take endless values
                self._said.clear()
            col = self.encoder.columns[j]
            label, value = self.labels.get(col, col), self.encoder.decode(j, code)
            sign = 1.0 if key[2] else -1.0
            # An encoder may say some inputs its own way (the stage prior: the CRM's odds).
            say = getattr(self.encoder, "say", None)
            if col in self.flags:
                reason = set_factor(label, value, sign)
            else:
                reason = (say(col, label, value, sign) if say else None) or factor(
                    col, label, value, sign, self.notation
                )
            said_plain = plain(reason)
            said = self._said[key] = (
                reason,
                (said_plain["field"], said_plain["value"], said_plain["sentence"]),
            )
        return said

    def reason(self, j: int, code: float, contribution: float) -> Reason:
        """Input `j`, encoded as `code`, with this contribution: a `Reason`."""
        said = self._lookup(j, code, contribution)[0]
        return Reason(said.field, said.value, float(contribution), said.sentence)

    def plain(self, j: int, code: float, contribution: float) -> dict[str, Any]:
        """The same as JSON-ready data (what the API sends)."""
        field, value, sentence = self._lookup(j, code, contribution)[1]
        return {
            "field": field,
            "value": value,
            "contribution": round(float(contribution), 4),
            "sentence": sentence,
        }

    def reasons(self, columns: Values, codes: Values, contribs: Values) -> list[Reason]:
        """`reason` of many factors at once (`columns`, `codes`, `contribs` alike in length)."""
        return [
            Reason(r.field, r.value, c, r.sentence)
            for (r, _), c in zip(
                self._made(columns, codes, contribs), _floats(contribs), strict=True
            )
        ]

    def plains(self, columns: Values, codes: Values, contribs: Values) -> list[dict]:
        """`plain` of many factors at once: each distinct sentence looked up once, the
        contributions rounded for the whole batch (to the same floats `round(c, 4)` gives)."""
        if not isinstance(columns, np.ndarray) and len(columns) < SAID_IN_PYTHON_UP_TO:
            # A few factors (one row's, as the API asks): one pass, no lists in between.
            lookup, kept = self._lookup, self._said
            out = []
            for j, x, c in zip(columns, codes, contribs, strict=True):
                # `_lookup`'s key (NaN as None), looked up here first: most are kept.
                hit = kept.get((j, x if x == x else None, c > 0)) or lookup(j, x, c)
                f, v, s = hit[1]
                c = c if c.__class__ is float else float(c)
                out.append({"field": f, "value": v, "contribution": round(c, 4), "sentence": s})
            return out
        if len(columns) < SAID_IN_PYTHON_UP_TO:
            said = self._made(columns, codes, contribs)
            return [
                {"field": f, "value": v, "contribution": c, "sentence": s}
                for (_, (f, v, s)), c in zip(said, rounded_4(contribs), strict=True)
            ]
        # Many factors: each group's dict made once and copied per factor (a copy of a small
        # dict costs less than building one), its contribution set in place: same keys, order.
        made, group = self._grouped(columns, codes, contribs)
        one_each = np.empty(len(made), dtype=object)
        one_each[:] = [
            {"field": f, "value": v, "contribution": 0.0, "sentence": s} for _, (f, v, s) in made
        ]
        out = list(map(dict.copy, one_each[group].tolist()))
        for reason, c in zip(out, rounded_4(contribs), strict=True):
            reason["contribution"] = c
        return out

    def _made(self, columns: Values, codes: Values, contribs: Values) -> list[tuple[Reason, Plain]]:
        """Each factor's (reason, plain form) as made once; many factors are grouped by (input,
        code, sign) in numpy, and each group's is looked up once."""
        n = len(columns)
        if n < SAID_IN_PYTHON_UP_TO:
            lookup = self._lookup
            if isinstance(columns, np.ndarray):
                columns, codes, contribs = _ints(columns), _floats(codes), _floats(contribs)
            return [lookup(j, x, c) for j, x, c in zip(columns, codes, contribs, strict=True)]
        made, group = self._grouped(columns, codes, contribs)
        return made[group].tolist()

    def _grouped(
        self, columns: Values, codes: Values, contribs: Values
    ) -> tuple[np.ndarray, np.ndarray]:
        """Many factors grouped by (input, code, sign): each group's (reason, plain form), looked
        up once, and each factor's group."""
        n = len(columns)
        js = np.asarray(columns, dtype=np.intp)
        xs = np.asarray(codes, dtype=float)
        up = np.asarray(contribs, dtype=float) > 0
        blank = np.isnan(xs)
        filled = np.where(blank, 0.0, xs)
        order = np.lexsort((up, filled, blank, js))
        keys = (js[order], blank[order], filled[order], up[order])
        new = np.ones(n, dtype=bool)
        new[1:] = np.logical_or.reduce([k[1:] != k[:-1] for k in keys])
        firsts = order[new]
        group = np.empty(n, dtype=np.intp)
        group[order] = np.cumsum(new) - 1
        lookup = self._lookup
        made = np.empty(len(firsts), dtype=object)
        made[:] = [
            lookup(j, x, 1.0 if u else -1.0)
            for j, x, u in zip(
                js[firsts].tolist(), xs[firsts].tolist(), up[firsts].tolist(), strict=True
            )
        ]
        return made, group


#: Up to this many factors, each is looked up in Python (grouping them costs more).
SAID_IN_PYTHON_UP_TO = 32


def _ints(values: Values) -> list[int]:
    return values.tolist() if isinstance(values, np.ndarray) else list(values)


def _floats(values: Values) -> list[float]:
    return values.tolist() if isinstance(values, np.ndarray) else [float(v) for v in values]


def rounded_4(values: Values) -> list[float]:
    """Each value as `round(v, 4)` gives it, for many at once: numpy's `rint(v * 1e4) / 1e4`
    is the same float unless `v * 1e4` lies within rounding error of a half (or is huge),
    and those few are rounded by Python."""
    if not isinstance(values, np.ndarray) and len(values) < SAID_IN_PYTHON_UP_TO:
        return [round(v if v.__class__ is float else float(v), 4) for v in values]
    v = np.asarray(values, dtype=float)
    scaled = v * 1e4
    out = (np.rint(scaled) / 1e4).tolist()
    doubtful = (np.abs(np.abs(scaled - np.trunc(scaled)) - 0.5) < 1e-6) | ~(
        np.abs(scaled) < 2.0**50
    )
    for i in np.flatnonzero(doubtful).tolist():
        out[i] = round(float(v[i]), 4)
    return out


def _row_ends(c: list[float], k: int, min_contribution: float) -> tuple[list[int], list[int]]:
    """One row's columns of its `k` largest contributions above `min_contribution`, largest
    first, and of its `k` smallest below −`min_contribution`, smallest first. Python's stable
    sort orders them as numpy's stable argsort does; sorted, so those worth saying lead each
    side and keeping those that clear the bar keeps a prefix."""
    order = sorted(range(len(c)), key=c.__getitem__)
    low = -min_contribution
    return (
        [j for j in order[: -k - 1 : -1] if c[j] > min_contribution],
        [j for j in order[:k] if c[j] < low],
    )


def top_reasons(
    say: Callable[[Values, Values, Values], list[Said]],
    matrix: np.ndarray,
    contrib: np.ndarray,
    top: int,
    min_contribution: float = MIN_CONTRIBUTION,
) -> list[tuple[list[Said], list[Said]]]:
    """Per row, its `top` factors for and against, said by `say(columns, codes, contributions)`
    for all of them at once (`Wording.reasons` or `Wording.plains`). `matrix` holds the encoded
    rows and `contrib` their contributions, both rows × inputs.

    The factors are picked for the whole batch at once (as `top_factors` picks them), and only
    their codes and contributions are read back into Python: a row's other inputs never are."""
    if contrib.ndim != 2 or matrix.ndim != 2:
        contrib, matrix = np.atleast_2d(contrib), np.atleast_2d(matrix)
    n, d = contrib.shape
    k = min(top, d)
    if k <= 0:
        return [([], []) for _ in range(n)]
    low = -min_contribution
    if n == 1:  # the API's row: the loop below, without its lists of rows
        row_c, row_x = contrib[0].tolist(), matrix[0].tolist()
        raising, lowering = _row_ends(row_c, k, min_contribution)
        chosen = raising + lowering
        said_one = say(chosen, [row_x[j] for j in chosen], [row_c[j] for j in chosen])
        return [(said_one[: len(raising)], said_one[len(raising) :])]
    columns: Values
    codes: Values
    values: Values
    if n <= SORTED_IN_PYTHON_UP_TO:
        # A few rows: each sorted in Python (`_row_ends`), without a dozen array calls around it.
        columns, codes, values, n_up, n_down = [], [], [], [], []
        for x, c in zip(matrix.tolist(), contrib.tolist(), strict=True):
            up, down = _row_ends(c, k, min_contribution)
            picked_here = up + down
            columns += picked_here
            codes += [x[j] for j in picked_here]
            values += [c[j] for j in picked_here]
            n_up.append(len(up))
            n_down.append(len(down))
    else:
        # Per row, the columns of the k largest then the k smallest contributions (one stable
        # sort for the batch); sorted, so those worth saying lead each side, and only their
        # codes and contributions are read back.
        ends = [d - 1 - i for i in range(k)] + list(range(k))  # k largest, then k smallest
        picked = np.argsort(contrib, axis=1, kind="stable")[:, ends]
        rows = np.arange(n)[:, None]
        worth = contrib[rows, picked]
        keep = np.empty(worth.shape, dtype=bool)
        np.greater(worth[:, :k], min_contribution, out=keep[:, :k])
        np.less(worth[:, k:], low, out=keep[:, k:])
        columns = picked[keep]
        codes = matrix[rows, picked][keep]
        values = worth[keep]
        n_up = keep[:, :k].sum(axis=1).tolist()
        n_down = keep[:, k:].sum(axis=1).tolist()
    said = say(columns, codes, values)
    out: list[tuple[list[Said], list[Said]]] = []
    start = 0
    for ups, downs in zip(n_up, n_down, strict=True):
        middle = start + ups
        end = middle + downs
        out.append((said[start:middle], said[middle:end]))
        start = end
    return out


def explain(
    model: Any,
    data: pd.DataFrame,
    top: int = 3,
    min_contribution: float = MIN_CONTRIBUTION,
    method: str = "path",
    notation: Notation = None,
) -> list[dict[str, list[Reason]]]:
    """Per row of a DataFrame, the `top` factors raising (`for`) and lowering (`against`) the score.

    For reports on whole frames (training); the API scores mappings through `forecast.scoring`.
    `model` is a fitted `BoostedClassifier` or `PerTeamClassifier` (each row is explained by the
    model that scored it). Each factor is a `Reason(field, value, contribution, sentence)`.
    `notation`: the dataset's number notation, which reasons write numbers in (as the API's).
    """
    labels = dict(getattr(model, "field_labels_", None) or {})
    flags = getattr(model, "date_set_inputs_", ())
    out: list[dict[str, list[Reason]] | None] = [None] * len(data)
    for mask, sub in model.parts(data):
        rows = np.flatnonzero(mask)
        matrix = sub.encode(data.iloc[rows])
        wording = Wording(sub.encoder_, labels, notation, flags)
        said = top_reasons(
            wording.reasons, matrix, contributions(sub, matrix, method), top, min_contribution
        )
        for i, (up, down) in zip(rows, said, strict=True):
            row = data.iloc[int(i)]
            out[i] = {"for": _rare(wording, up, row), "against": _rare(wording, down, row)}
    return out  # type: ignore[return-value]


def _rare(wording: Wording, reasons: list[Reason], row: pd.Series) -> list[Reason]:
    """`Wording.with_rare_values` for `Reason`s of a frame's row."""
    out = []
    for r in reasons:
        value = wording.unlearnt_value(r.field, row) if r.value is None else None
        if value is not None:
            r = Reason(r.field, value, r.contribution, rare_value(r.field, value, r.contribution))
        out.append(r)
    return out


def as_dicts(reasons: dict[str, list[Reason]]) -> dict[str, list[dict[str, Any]]]:
    """Plain JSON-ready form of one row's reasons (no numpy types)."""
    return {side: [plain(r) for r in items] for side, items in reasons.items()}
