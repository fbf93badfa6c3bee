"""Per-feature contributions of a LightGBM model, fast enough to explain every API call.

LightGBM offers exact TreeSHAP values (`predict(pred_contrib=True)`), but they cost about
300 µs per row on a 200-tree model: more than the whole latency budget of a scoring call, and
3 s for a batch of 10,000. The path decomposition used here (Saabas's, `approx_contribs` in
XGBoost) reads LightGBM's own node values instead: walking from a tree's root to the leaf a row
lands in, each split moves the value from the parent's to the child's, and that change is
credited to the split's feature. Summed over trees, contributions plus the bias equal the raw
score exactly, like SHAP's. Because a leaf fixes its path, the contributions of every leaf are
computed once per model; explaining a row is then one `pred_leaf` call and a gather-and-sum.
SHAP stays available (`method="shap"`) where exactness of the attribution matters more than
speed.
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
from scipy import sparse


class PathContributions:
    """Leaf-indexed contribution table of one booster: `(trees, leaves, features)`."""

    def __init__(self, booster: lgb.Booster) -> None:
        dump = booster.dump_model()
        n_features = booster.num_feature()
        trees = dump["tree_info"]
        max_leaves = max(t["num_leaves"] for t in trees)
        self.table = np.zeros((len(trees), max_leaves, n_features))
        self.bias = 0.0
        for t, tree in enumerate(trees):
            root = tree["tree_structure"]
            self.bias += _value(root)
            stack = [(root, np.zeros(n_features))]
            while stack:
                node, path = stack.pop()
                if "leaf_index" in node:
                    self.table[t, node["leaf_index"]] = path
                    continue
                for side in ("left_child", "right_child"):
                    child = node[side]
                    step = path.copy()
                    step[node["split_feature"]] += _value(child) - _value(node)
                    stack.append((child, step))
        self._tree_index = np.arange(len(trees))

    def __call__(self, booster: lgb.Booster, matrix: np.ndarray) -> np.ndarray:
        """Contributions of each row's features, `(rows, features)`, in log-odds."""
        one = len(matrix) == 1
        leaves = booster.predict(matrix, pred_leaf=True, num_threads=1 if one else 0)
        leaves = leaves.astype(np.intp).reshape(len(matrix), -1)
        if one:
            return self.table[self._tree_index, leaves[0]].sum(axis=0, keepdims=True)
        # Many rows: a sparse one-hot of the leaves reached times the flat leaf table.
        n_trees, n_leaves, n_features = self.table.shape
        cols = (leaves + self._tree_index * n_leaves).ravel()
        rows = np.repeat(np.arange(len(matrix)), n_trees)
        hits = sparse.csr_matrix((np.ones(len(cols)), (rows, cols)),
                                 shape=(len(matrix), n_trees * n_leaves))
        return np.asarray(hits @ self.table.reshape(n_trees * n_leaves, n_features))


def _value(node: dict) -> float:
    return float(node["leaf_value"] if "leaf_index" in node else node["internal_value"])


def path_contributions(model: object) -> PathContributions:
    """The table for a fitted `BoostedClassifier`, built on first use and kept with the model."""
    table = getattr(model, "_path_contributions", None)
    if table is None:
        table = PathContributions(model.booster_)  # type: ignore[attr-defined]
        model._path_contributions = table  # type: ignore[attr-defined]
    return table


def contributions(model: object, matrix: np.ndarray, method: str = "path") -> np.ndarray:
    """Per-feature contributions of encoded rows: `(rows, features)`; bias not included."""
    booster = model.booster_  # type: ignore[attr-defined]
    if method == "shap":
        return booster.predict(matrix, pred_contrib=True)[:, :-1]
    if method != "path":
        raise ValueError(f"method must be 'path' or 'shap', not {method!r}")
    return path_contributions(model)(booster, matrix)
