"""Per-feature contributions of a LightGBM model, fast enough to explain every API call.

LightGBM offers exact TreeSHAP values (`predict(pred_contrib=True)`), but they cost about
300 µs per row on a 200-tree model: more than the whole latency budget of a scoring call, and
3 s for a batch of 10,000. The path decomposition used here (Saabas's, `approx_contribs` in
XGBoost) reads LightGBM's own node values instead: walking from a tree's root to the leaf a row
lands in, each split moves the value from the parent's to the child's, and that change is
credited to the split's feature. Summed over trees, contributions plus the bias equal the raw
score exactly, like SHAP's (and for trees of one split each, they are SHAP's). Because a leaf
fixes its path, the contributions of every leaf are computed once per model, as one array;
explaining a batch is then one leaf lookup for the whole batch and a sum of the table's rows for
the leaves reached, with no Python loop over rows or features (one row is a batch of one).
SHAP stays available (`method="shap"`) where exactness of the attribution matters more than
speed.

The leaf lookup of a single row goes through LightGBM's own single-row predictor
(`LGBM_BoosterPredictForMatSingleRowFast`, set up once per model): `Booster.predict` spends
tens of microseconds checking and converting its input before a lookup that takes a few. A
batch's goes through the trees compiled to machine code once the model has been compiled
(`forecast.modeling.compiled_leaves`: the same leaves, three to five times faster), else
through `Booster.predict(pred_leaf=True)`. The first big batch a model scores starts compiling
it in a background thread, once per loaded model (`compile_trees` does it at once).
"""

from __future__ import annotations

import atexit
import ctypes
import threading
import weakref
from typing import Any

import lightgbm as lgb
import numpy as np
from lightgbm import basic
from scipy import sparse

from forecast.modeling.compiled_leaves import CompiledLeaves

#: Batches of at least this many rows let LightGBM use all cores for the leaf lookup.
THREADED_FROM = 64
#: Up to this many rows, leaf rows are gathered and summed (building a sparse matrix costs more).
GATHER_UP_TO = 4
#: The first batch of at least this many rows starts compiling the model's trees in the
#: background (seconds of one core, won back after a few hundred thousand rows).
COMPILE_FROM = 1000


class PathContributions:
    """Leaf-indexed contribution table of one booster: `(trees, leaves, features)`, with the
    bias (the sum of the trees' root values) the contributions add to."""

    def __init__(self, booster: lgb.Booster) -> None:
        dump = booster.dump_model()
        n_features = booster.num_feature()
        trees = dump["tree_info"]
        max_leaves = max(t["num_leaves"] for t in trees)
        table = np.zeros((len(trees), max_leaves, n_features))
        self.bias = 0.0
        for t, tree in enumerate(trees):
            root = tree["tree_structure"]
            self.bias += _value(root)
            stack = [(root, np.zeros(n_features))]
            while stack:
                node, path = stack.pop()
                if "leaf_index" in node:
                    table[t, node["leaf_index"]] = path
                    continue
                for side in ("left_child", "right_child"):
                    child = node[side]
                    step = path.copy()
                    step[node["split_feature"]] += _value(child) - _value(node)
                    stack.append((child, step))
        n_trees = len(trees)
        values = np.zeros((n_trees, max_leaves))
        for t, tree in enumerate(trees):
            for leaf in _leaves(tree["tree_structure"]):
                values[t, leaf["leaf_index"]] = leaf["leaf_value"]
        #: Per (tree, leaf), one row: its features' contributions, then its own value (a row's
        #: raw score is the sum of its leaves' values). One gather of a row's leaves sums both
        #: at once, tree by tree in order, as LightGBM adds the trees up.
        self.rows = np.concatenate(
            [table.reshape(n_trees * max_leaves, n_features), values.reshape(-1, 1)], axis=1
        )
        self.offsets = np.arange(0, n_trees * max_leaves, max_leaves, dtype=np.intp)
        self._single: _SingleRowLeaves | None = None
        self._compiled: tuple[lgb.Booster, CompiledLeaves] | None = None
        self._compiling: lgb.Booster | None = None

    def __getstate__(self) -> dict[str, Any]:
        # The single-row predictor is a handle into one live booster, the compiled trees code
        # in this process: made again after loading.
        kept = ("_single", "_compiled", "_compiling")
        return {k: v for k, v in self.__dict__.items() if k not in kept}

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "rows" not in state:  # pickled before the leaves' values joined the table
            state.pop("table", None)
            flat, values = state.pop("flat"), state.pop("values")
            state["rows"] = np.concatenate([flat, values.reshape(-1, 1)], axis=1)
        self.__dict__.update(state)
        self._single = None
        self._compiled = None
        self._compiling = None

    def compile(self, booster: lgb.Booster) -> CompiledLeaves | None:
        """The booster's trees compiled for batches' leaf lookups (once; seconds), or None
        where they cannot be (LightGBM serves them)."""
        if self._compiled is None or self._compiled[0] is not booster:
            made = CompiledLeaves.compile(booster, booster.dump_model())
            if made is None:
                return None
            self._compiled = (booster, made)
        return self._compiled[1]

    def _compile_soon(self, booster: lgb.Booster) -> None:
        """Start compiling the trees in a thread of their own, once per booster, where this
        process compiles in the background (`background_compiles`); batches keep LightGBM's
        leaf lookup until it is done (or for good, if it fails)."""
        with _COMPILE_STARTS:
            if not _background or self._compiling is booster:
                return
            self._compiling = booster
            thread = threading.Thread(
                target=self.compile, args=(booster,), name="compile-trees", daemon=True
            )
            if not _COMPILES:  # the first compile: this process waits for them at exit
                atexit.register(_finish_compiles)
            # Only compiles still running are kept (a server reloading models keeps none of
            # old), and at least this one, so the list is never empty again.
            _COMPILES[:] = [*(t for t in _COMPILES if t.is_alive()), thread]
        thread.start()

    def leaves(self, booster: lgb.Booster, matrix: np.ndarray) -> np.ndarray:
        """The leaf each row reaches in each tree, `(rows, trees)`, in one call for the batch."""
        n = len(matrix)
        if n == 1:
            single = self._single
            if single is None or single.booster is not booster:
                single = self._single = _SingleRowLeaves.make(booster, len(self.offsets))
            if single is not None:
                return single(matrix)
        compiled = self._compiled
        if compiled is not None and compiled[0] is booster:
            return compiled[1](matrix)
        if n >= COMPILE_FROM:
            self._compile_soon(booster)
        # Threads only pay for themselves on bigger batches; a few rows run inline.
        leaves = booster.predict(matrix, pred_leaf=True, num_threads=1 if n < THREADED_FROM else 0)
        return np.asarray(leaves, dtype=np.intp).reshape(n, len(self.offsets))

    @property
    def n_features(self) -> int:
        return self.rows.shape[1] - 1

    def raw_scores(
        self, booster: lgb.Booster, matrix: np.ndarray, with_contributions: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Each row's raw score (log-odds: the sum of its leaves' values, tree by tree as
        LightGBM adds them up) and, if asked, its contributions, from one leaf lookup for the
        batch and one gather of the table's rows. A batch without contributions, once the trees
        are compiled, takes the compiled model's own sum instead (the same scores to 1e-12; no
        leaf indices written and read back)."""
        if len(matrix) == 0:
            return np.zeros(0), np.zeros((0, self.n_features))
        compiled = self._compiled
        if not with_contributions and len(matrix) > 1 and compiled is not None:
            made = compiled[1]
            if compiled[0] is booster and made.has_raw:  # no leaves needed: the trees' sum
                return made.raw(matrix), None
        hit = self.leaves(booster, matrix)
        hit += self.offsets  # the leaves are a fresh array: no second one is made
        if not with_contributions:  # the values alone, added tree by tree as the gather adds
            return np.cumsum(self.rows[:, -1].take(hit), axis=1)[:, -1], None
        summed = self._gather(hit)
        return summed[:, -1], summed[:, :-1]

    def __call__(self, booster: lgb.Booster, matrix: np.ndarray) -> np.ndarray:
        """Contributions of each row's features, `(rows, features)`, in log-odds.

        A row's contributions are the sum of the table's rows for the leaves it reaches, added
        tree by tree in order. A few rows gather the leaf rows and sum them; more go through a
        sparse one-hot of the leaves reached times the table, which adds in the same order
        without holding rows × trees × features in memory. Either way a row's contributions are
        the same to the last bit, whatever batch it came in.
        """
        if len(matrix) == 0:
            return np.zeros((0, self.n_features))
        return self._gather(self.leaves(booster, matrix) + self.offsets)[:, :-1]

    def _gather(self, hit: np.ndarray) -> np.ndarray:
        """The sum of the table's rows `hit` (rows × trees), row by row, tree by tree: each
        row's contributions, then its raw score."""
        n = len(hit)
        rows = self.rows
        if n <= GATHER_UP_TO:
            return rows.take(hit, axis=0).sum(axis=1)
        n_trees = len(self.offsets)
        # 32-bit indices where they fit spare scipy a check of their range.
        index = np.int32 if hit.size < 2**31 and len(rows) < 2**31 else np.int64
        one_hot = sparse.csr_matrix(
            (
                np.ones(hit.size),
                hit.ravel().astype(index, copy=False),
                np.arange(0, hit.size + 1, n_trees, dtype=index),
            ),
            shape=(n, len(rows)),
        )
        return np.asarray(one_hot @ rows)


#: Held while a table decides whether to start compiling (one compile per booster).
_COMPILE_STARTS = threading.Lock()
#: Whether a big batch starts compiling its model's trees in the background: yes in a
#: long-lived process (the server, a Dask worker); a one-shot command turns it off, as its
#: process ends before a compile pays for itself.
_background = True
#: The background compiles started: waited for at exit, as LLVM torn down under a compile
#: still running crashes the process (a segmentation fault after the work was done).
_COMPILES: list[threading.Thread] = []


def background_compiles(on: bool) -> None:
    """Whether big batches in this process compile their model's trees in the background."""
    global _background
    _background = on


def _finish_compiles() -> None:
    for thread in list(_COMPILES):
        thread.join()


class _SingleRowLeaves:
    """LightGBM's single-row leaf predictor for one booster (set up once, freed with it)."""

    def __init__(self, booster: lgb.Booster, n_trees: int, handle: ctypes.c_void_p) -> None:
        self.booster = booster
        self.n_trees = n_trees
        self._handle = handle
        self._length = ctypes.c_int64()
        # LightGBM reads the row from, and writes the leaves to, buffers of fixed address.
        self._row = np.empty(booster.num_feature(), dtype=np.float64)
        self._out = np.empty(n_trees, dtype=np.float64)
        self._args = (
            handle,
            ctypes.c_void_p(self._row.ctypes.data),
            ctypes.byref(self._length),
            ctypes.c_void_p(self._out.ctypes.data),
        )
        # The predictor and the buffers are shared: one call at a time.
        self._lock = threading.Lock()
        # Called holding the GIL (a `PyDLL` function of the same library): the lookup takes a
        # few µs, and letting go of the GIL for it hands the core to any thread waiting for it
        # (the score log's writer) in the middle of the request, at a switch each way.
        self._predict = _holding_the_gil(basic._LIB).LGBM_BoosterPredictForMatSingleRowFast
        weakref.finalize(self, basic._LIB.LGBM_FastConfigFree, handle)

    @classmethod
    def make(cls, booster: lgb.Booster, n_trees: int) -> _SingleRowLeaves | None:
        """The predictor, or None where this LightGBM cannot make one (the batch call serves)."""
        handle = ctypes.c_void_p()
        try:
            basic._safe_call(
                basic._LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
                    booster._handle,
                    ctypes.c_int(basic._C_API_PREDICT_LEAF_INDEX),
                    ctypes.c_int(0),  # from the first tree
                    ctypes.c_int(-1),  # to the last
                    ctypes.c_int(basic._C_API_DTYPE_FLOAT64),
                    ctypes.c_int32(booster.num_feature()),
                    basic._c_str("num_threads=1"),
                    ctypes.byref(handle),
                )
            )
        except (AttributeError, lgb.basic.LightGBMError):
            return None
        return cls(booster, n_trees, handle)

    def __call__(self, matrix: np.ndarray) -> np.ndarray:
        with self._lock:
            self._row[:] = matrix[0]
            if self._predict(*self._args) != 0:
                basic._safe_call(-1)  # raises LightGBM's own error, as `_safe_call` does
            return self._out.astype(np.intp).reshape(1, self.n_trees)


def _holding_the_gil(lib: ctypes.CDLL) -> ctypes.PyDLL:
    """The same loaded library, its functions called without releasing the GIL."""
    return ctypes.PyDLL(lib._name, handle=lib._handle)


def compile_trees(model: object) -> bool:
    """Compile a LightGBM model's trees for batch leaf lookups now, once per loaded model
    (seconds; the first batch of `COMPILE_FROM` rows starts it in the background anyway);
    False for a simple family or where they cannot be."""
    if not hasattr(model, "booster_"):
        return False
    return path_contributions(model).compile(model.booster_) is not None


def bias(model: object) -> float:
    """What the contributions of a row add to, to make its raw score (log-odds)."""
    if not hasattr(model, "booster_"):
        return float(model.bias_)  # type: ignore[attr-defined]
    return path_contributions(model).bias


def _leaves(node: dict) -> list[dict]:
    """A tree's leaves, from its root."""
    out, stack = [], [node]
    while stack:
        node = stack.pop()
        if "leaf_index" in node:
            out.append(node)
        else:
            stack.extend((node["left_child"], node["right_child"]))
    return out


def _value(node: dict) -> float:
    return float(node["leaf_value"] if "leaf_index" in node else node["internal_value"])


def path_contributions(model: object) -> PathContributions:
    """The table for a fitted `BoostedClassifier`, built on first use and kept with the model."""
    table = getattr(model, "_path_contributions", None)
    if table is None:
        table = PathContributions(model.booster_)  # type: ignore[attr-defined]
        model._path_contributions = table  # type: ignore[attr-defined]
    return table


def raw_scores(
    model: object, matrix: np.ndarray, with_contributions: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """Raw scores (log-odds) of encoded rows and, if asked, their contributions `(rows,
    features)`: for a LightGBM model, the sum of the leaves' values, from the same leaf lookup
    as the contributions (so asking for them changes no score); for a simple family, its terms
    plus its bias."""
    if not hasattr(model, "booster_"):
        contrib = model.contributions(matrix)  # type: ignore[attr-defined]
        return contrib.sum(axis=1) + model.bias_, contrib  # type: ignore[attr-defined]
    return path_contributions(model).raw_scores(model.booster_, matrix, with_contributions)


def contributions(model: object, matrix: np.ndarray, method: str = "path") -> np.ndarray:
    """Per-feature contributions of encoded rows: `(rows, features)`; bias not included.

    A model of a simple family (`families`, additive in log-odds) gives its own exact terms."""
    if not hasattr(model, "booster_"):
        return model.contributions(matrix)  # type: ignore[attr-defined]
    booster = model.booster_
    if method == "shap":
        return booster.predict(matrix, pred_contrib=True)[:, :-1]
    if method != "path":
        raise ValueError(f"method must be 'path' or 'shap', not {method!r}")
    return path_contributions(model)(booster, matrix)
