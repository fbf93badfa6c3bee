"""Before a track record, a change of the business keeps the run rate off the headline only where
ours took the change up: ours lying on the run rate's other side from where the business went
has not, and then the run rate is the nearer of the two (the naive rule stands)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from forecast.forecasting.fitted import RecentChange, changed_lately, recent_change
from forecast.timing.cohort import CohortLevel


def _model(**level: float) -> SimpleNamespace:
    return SimpleNamespace(cohort_=CohortLevel(0.0, deals=500, weight=0.9, **level))


@pytest.mark.parametrize(
    ("level", "direction"),
    [
        ({"lost": 1.3}, -1),  # lost more often: worse
        ({"won": 0.6}, -1),
        ({"won": 0.6, "lost": 1.2}, -1),
        ({"won": 1.4}, 1),  # won more often: better
        ({"lost": 0.7}, 1),
        ({"won": 1.3, "lost": 1.3}, 0),  # both more often: faster, not better or worse
    ],
)
def test_a_change_says_which_way_the_business_went(level: dict[str, float], direction: int):
    change = recent_change(_model(**level))
    assert change is not None and change.direction == direction
    assert change.reason == changed_lately(_model(**level))


def test_a_change_within_its_noise_or_none_is_no_change():
    assert recent_change(_model(lost=1.0)) is None
    assert recent_change(SimpleNamespace(cohort_=CohortLevel(0.0, lost=1.5, weight=0.5))) is None
    assert recent_change(object()) is None  # a model saved before cohorts


def test_ours_replaces_the_run_rate_only_where_it_moved_off_it_the_way_the_business_went():
    worse = RecentChange("lost more often", -1)
    assert worse.leaves_run_rate(ours=900.0, run_rate=1000.0)
    assert not worse.leaves_run_rate(ours=1100.0, run_rate=1000.0)  # ours above: not taken up
    assert not worse.leaves_run_rate(ours=1000.0, run_rate=1000.0)
    better = RecentChange("won more often", 1)
    assert better.leaves_run_rate(ours=1100.0, run_rate=1000.0)
    assert not better.leaves_run_rate(ours=900.0, run_rate=1000.0)
    # Both ways at once, or nothing to compare: the change keeps the run rate off, as before.
    assert RecentChange("faster", 0).leaves_run_rate(ours=1100.0, run_rate=1000.0)
    assert worse.leaves_run_rate(ours=1100.0, run_rate=None)
