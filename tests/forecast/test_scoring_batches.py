"""Big batches: the cycle collector is held off while their results are made, and left as the
caller had it afterwards (on stays on, off stays off), whatever happens."""

from __future__ import annotations

import gc

import pytest

from forecast import scoring
from forecast.modeling.estimators import BoostedClassifier
from forecast.modeling.scorers import select_scorer
from tests.forecast.test_scoring import hand_made_leads, records


@pytest.fixture(scope="module")
def served() -> scoring.Served:
    X, y = hand_made_leads(1500, seed=21)
    model = BoostedClassifier(n_estimators=40, n_jobs=1, random_state=0).fit(X, y)
    return scoring.Served(scoring.LEAD, select_scorer(model), "1", "registry")


@pytest.fixture(scope="module")
def big_batch() -> list[dict]:
    return records(hand_made_leads(scoring.PAUSE_COLLECTOR_FROM + 5, seed=22)[0])


def test_the_collector_is_on_again_after_a_big_batch(served, big_batch):
    assert gc.isenabled()
    scores = scoring.score(served, big_batch)
    assert len(scores) == len(big_batch)
    assert gc.isenabled()


def test_a_collector_the_caller_turned_off_stays_off(served, big_batch):
    gc.disable()
    try:
        scoring.score(served, big_batch)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_big_batch_scores_each_row_as_it_scores_alone(served, big_batch):
    batch = scoring.score(served, big_batch)
    for i in (0, 500, len(big_batch) - 1):
        assert scoring.score(served, [big_batch[i]]) == [batch[i]]
