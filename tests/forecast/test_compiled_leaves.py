"""The trees compiled to machine code (lleaves) against LightGBM's own answers: the leaves a
batch reaches and the scores the service gives from them; and LightGBM serving on when the
trees cannot be compiled.

Every expected value comes from LightGBM (`Booster.predict`) or from the service before the
trees were compiled, never from the compiled trees.
"""

from __future__ import annotations

import builtins
import pickle
import threading

import numpy as np
import pytest

from forecast import scoring
from forecast.modeling import contributions
from forecast.modeling.compiled_leaves import CompiledLeaves, leaf_index_model
from forecast.modeling.contributions import compile_trees, path_contributions
from forecast.modeling.estimators import BoostedClassifier
from forecast.modeling.scorers import select_scorer
from tests.forecast.test_scoring import hand_made_leads, records

pytest.importorskip("lleaves")


@pytest.fixture(scope="module")
def leads():
    frame = hand_made_leads(400, seed=22)[0]
    # Blanks and a category never seen in training, which the trees route as missing.
    frame.loc[frame.index[:40], "Lead Source"] = None
    frame.loc[frame.index[40:80], "Lead Source"] = "a source never seen"
    frame.loc[frame.index[80:120], "TotalVisits"] = None
    return frame


def fitted() -> BoostedClassifier:
    X, y = hand_made_leads(2000, seed=21)
    return BoostedClassifier(n_estimators=60, n_jobs=1, random_state=0).fit(X, y)


@pytest.fixture(scope="module")
def model() -> BoostedClassifier:
    return fitted()


def test_compiled_trees_reach_the_leaves_lightgbm_says(model, leads):
    matrix = model.encode(leads)
    compiled = CompiledLeaves.compile(model.booster_, model.booster_.dump_model())
    assert compiled is not None
    np.testing.assert_array_equal(compiled(matrix), model.booster_.predict(matrix, pred_leaf=True))


def test_scores_from_compiled_trees_are_lightgbms_and_the_same_as_before(leads):
    model = fitted()  # its own: compiling changes how it finds leaves from now on
    served = scoring.Served(scoring.LEAD, select_scorer(model), "1", "registry")
    rows = records(leads)
    before = scoring.score(served, rows)
    before_bare = scoring.score(served, rows, top=0)
    assert compile_trees(model)
    after = scoring.score(served, rows)
    assert after == before
    # Without reasons the compiled model sums the trees itself, in blocks: the same to 1e-12.
    bare = scoring.score(served, rows, top=0)
    assert path_contributions(model).compile(model.booster_).has_raw
    np.testing.assert_allclose(
        [s.probability for s in bare], [s.probability for s in before_bare], rtol=0, atol=1e-12
    )
    np.testing.assert_allclose(
        [s.probability for s in bare], [s.probability for s in after], rtol=0, atol=1e-12
    )
    assert [(s.score, s.grade) for s in bare] == [(s.score, s.grade) for s in before_bare]
    raw = model.booster_.predict(model.encode(leads), raw_score=True)
    ours, _ = path_contributions(model).raw_scores(model.booster_, model.encode(leads), False)
    np.testing.assert_allclose(ours, raw, rtol=0, atol=1e-9)
    # A pickled model forgets its compiled trees (code of this process) and scores the same.
    again = pickle.loads(pickle.dumps(model))
    assert path_contributions(again)._compiled is None
    served_again = scoring.Served(scoring.LEAD, select_scorer(again), "1", "registry")
    assert scoring.score(served_again, rows) == before


def test_without_lleaves_lightgbm_finds_the_leaves(model, leads, monkeypatch):
    real_import = builtins.__import__

    def no_lleaves(name, *args, **kwargs):
        if name == "lleaves":
            raise ImportError("no lleaves here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_lleaves)
    fresh = pickle.loads(pickle.dumps(model))
    assert not compile_trees(fresh)
    matrix = fresh.encode(leads)
    np.testing.assert_array_equal(
        path_contributions(fresh).leaves(fresh.booster_, matrix),
        fresh.booster_.predict(matrix, pred_leaf=True),
    )


def test_a_model_file_that_cannot_be_rewritten_is_refused():
    with pytest.raises(ValueError, match="no trees"):
        leaf_index_model("tree\nversion=v4\nnum_class=1\n", 3)


def test_a_big_batch_compiles_the_trees_in_the_background_once(leads, monkeypatch):
    monkeypatch.setattr(contributions, "COMPILE_FROM", 100)
    model = fitted()
    matrix = model.encode(leads)
    table = path_contributions(model)
    expected = model.booster_.predict(matrix, pred_leaf=True)
    # Scored by LightGBM at once; the compile runs beside it.
    np.testing.assert_array_equal(table.leaves(model.booster_, matrix[:50]), expected[:50])
    assert table._compiling is None  # a small batch starts nothing
    np.testing.assert_array_equal(table.leaves(model.booster_, matrix), expected)
    assert table._compiling is model.booster_
    for thread in threading.enumerate():
        if thread.name == "compile-trees":
            thread.join(timeout=120)
    assert table._compiled is not None
    np.testing.assert_array_equal(table.leaves(model.booster_, matrix), expected)
