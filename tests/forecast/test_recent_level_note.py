"""The forecast's note on the last days' level says what differs, and only what differs by a
visible amount: a shift the model kept but shrank to almost nothing is not called a difference
(a note "differ ... beyond their noise (closes ×1.01, wins ×1.00)" contradicted itself)."""

from __future__ import annotations

import math
from dataclasses import replace
from types import SimpleNamespace

from forecast.forecasting.fitted import SURE_CHANGE_KEPT, _recent_level_note, changed_lately
from forecast.settings import Settings
from forecast.timing.cohort import CohortLevel

SETTINGS = Settings(timing_recent_days=91)


def notes_of(close: float, won: float, cohort: CohortLevel | None = None) -> list[str]:
    """The notes of a model whose recent level moved closes and wins by these odds ratios."""
    model = SimpleNamespace(
        recent_shift_={"close": math.log(close), "won": math.log(won)}, cohort_=cohort
    )
    return _recent_level_note(model, SETTINGS)  # type: ignore[arg-type]


def test_a_negligible_shift_is_not_called_a_difference():
    assert notes_of(1.01, 1.004) == []
    assert notes_of(1.0, 1.0) == []


def test_the_note_names_only_the_level_that_moved():
    (note,) = notes_of(1.01, 0.70)
    assert "differ from the longer history beyond their noise in wins among closes" in note
    assert "×0.70 in odds" in note
    assert "closes (×1.01" not in note and "×1.01" not in note


def test_both_levels_named_when_both_moved():
    (note,) = notes_of(1.30, 0.80)
    assert "the last 91 days" in note
    assert "closes (×1.30 in odds) and wins among closes (×0.80 in odds)" in note


def test_a_cohort_level_of_no_visible_change_says_nothing():
    still = CohortLevel(since_day=0.0, won=1.002, lost=0.998, deals=40)
    assert notes_of(1.0, 1.0, still) == []
    moved = CohortLevel(since_day=0.0, won=0.6, lost=1.0, deals=40)
    (note,) = notes_of(1.0, 1.0, moved)
    assert "the 40 deals created in the last 91 days were won ×0.60" in note


def test_only_a_cohort_two_standard_errors_clear_of_no_change_keeps_the_run_rate_from_view():
    """The share of its gap a cohort keeps is 1 − v / gap²: 0.75 or more is a gap of two
    standard errors or more, a change the run rate of older deals' wins has not seen. Losses
    count: a lower win rate shows in them first."""
    assert SURE_CHANGE_KEPT == 0.75
    clear = CohortLevel(since_day=0.0, won=0.6, lost=1.4, deals=80, weight=0.8)
    why = changed_lately(SimpleNamespace(cohort_=clear), SETTINGS)
    assert why is not None
    assert "the 80 deals created in the last 91 days were won ×0.60 and lost ×1.40" in why
    losses = replace(clear, won=1.0, lost=1.3)
    said = changed_lately(SimpleNamespace(cohort_=losses), SETTINGS)
    assert "were lost ×1.30 as often as older deals at the same ages (their wins within the" in (
        said or ""
    )
    within = replace(clear, weight=0.7)
    assert changed_lately(SimpleNamespace(cohort_=within), SETTINGS) is None
    still = CohortLevel(since_day=0.0, deals=80, weight=0.9)  # nothing moved
    assert changed_lately(SimpleNamespace(cohort_=still), SETTINGS) is None
    assert changed_lately(SimpleNamespace(), SETTINGS) is None  # a model without a cohort
