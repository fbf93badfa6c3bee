"""A boosted deal model fitted on a Dask cluster keeps the in-process model's monotone past win
rates: the same trees, so a higher rate never lowers its score there either."""

from __future__ import annotations

import numpy as np
import pytest

from forecast import features as feat
from forecast.data.generator import generate_pipeline
from forecast.history import DealHistory
from forecast.modeling import dask_boosting
from forecast.modeling.estimators import BoostedClassifier, PerTeamClassifier

pytestmark = pytest.mark.slow


def test_a_cluster_fit_keeps_the_monotone_past_win_rates(client) -> None:
    data = generate_pipeline(2000, seed=4)
    history = DealHistory.from_frames(data.opportunities, data.history, data.stages)
    rows = feat.deal_training_rows(
        history, every_days=14, known_before="2024-07-01", created_before="2024-05-15"
    )
    X, y = feat.deal_features(rows), rows["won"].to_numpy(float)
    w, groups = rows["weight"].to_numpy(), rows["id"].to_numpy()

    def template() -> PerTeamClassifier:
        base = BoostedClassifier(n_jobs=1, monotone_increasing=feat.PAST_WIN_RATES)
        return PerTeamClassifier(base, min_won=10**6, min_lost=10**6)  # the global model only

    local = template().fit(X, y, w, groups)
    data_on_cluster = dask_boosting.scatter_matrix(client, X, y, w, groups, parts=1)
    remote = dask_boosting.fit_per_team(client, template(), data_on_cluster)

    trees = [m.global_.booster_.dump_model()["tree_info"] for m in (remote, local)]
    assert trees[0] == trees[1]
    np.testing.assert_allclose(remote.predict_proba(X), local.predict_proba(X), rtol=1e-12)
