"""Big batches: the cycle collector is held off while their results are made, and left as the
caller had it afterwards (on stays on, off stays off), whatever happens."""

from __future__ import annotations

import gc
import subprocess
import sys
import threading
from pathlib import Path

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


def _compiles_done() -> None:
    """Wait for background tree compiles (a big batch starts one), which hold the collector
    off while they run."""
    for thread in threading.enumerate():
        if thread.name == "compile-trees":
            thread.join(timeout=120)


def test_the_collector_is_on_again_after_a_big_batch(served, big_batch):
    _compiles_done()
    assert gc.isenabled()
    scores = scoring.score(served, big_batch)
    assert len(scores) == len(big_batch)
    _compiles_done()
    assert gc.isenabled()


def test_holds_that_overlap_across_threads_leave_the_collector_as_the_first_found_it():
    from forecast.collector import collector_held_off

    _compiles_done()
    inside, leave = threading.Event(), threading.Event()

    def background() -> None:
        with collector_held_off():
            inside.set()
            leave.wait(10)

    worker = threading.Thread(target=background)
    worker.start()
    inside.wait(10)
    with collector_held_off():  # a big batch beside a compile
        assert not gc.isenabled()
    assert not gc.isenabled()  # the compile still holds it
    leave.set()
    worker.join(10)
    assert gc.isenabled()


def test_a_collector_the_caller_turned_off_stays_off(served, big_batch):
    _compiles_done()
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


def test_a_process_that_turned_background_compiles_off_starts_none():
    from forecast.modeling import contributions

    X, y = hand_made_leads(1200, seed=23)
    model = BoostedClassifier(n_estimators=20, n_jobs=1, random_state=0).fit(X, y)
    served = scoring.Served(scoring.LEAD, select_scorer(model), "1", "registry")
    contributions.background_compiles(False)
    try:
        scoring.score(served, records(X))
        assert contributions.path_contributions(model)._compiling is None
    finally:
        contributions.background_compiles(True)
    scoring.score(served, records(X))
    assert contributions.path_contributions(model)._compiling is model.booster_
    _compiles_done()


def test_a_process_ending_while_its_trees_compile_waits_for_them_and_exits_cleanly():
    """A one-shot batch that started a background compile and ended at once died of a
    segmentation fault now and then (LLVM torn down under the compile), after its output was
    written: the process waits for the compile at exit. The check below is registered first,
    so it runs after that wait (exit handlers run last registered first)."""
    script = (
        "import atexit\n"
        "from forecast import scoring\n"
        "from forecast.modeling.contributions import path_contributions\n"
        "from forecast.modeling.estimators import BoostedClassifier\n"
        "from forecast.modeling.scorers import select_scorer\n"
        "from tests.forecast.test_scoring import hand_made_leads, records\n"
        "X, y = hand_made_leads(1500, seed=24)\n"
        "model = BoostedClassifier(n_estimators=150, n_jobs=1, random_state=0).fit(X, y)\n"
        "table = path_contributions(model)\n"
        "atexit.register(lambda: print('compiled at exit:', table._compiled is not None))\n"
        "served = scoring.Served(scoring.LEAD, select_scorer(model), '1', 'registry')\n"
        "scoring.score(served, records(X))\n"
        "print('scored, compiled:', table._compiled is not None)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[:2] == ["scored, compiled: False", "compiled at exit: True"]
