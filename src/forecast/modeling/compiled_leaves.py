"""A booster's trees compiled to machine code, to find the leaf each row reaches in each tree.

LightGBM walks its trees in a generic loop over node arrays: about 5 µs a row for a 120-tree
model on one core, more than the 30 ms a 10,000-lead batch may take. `lleaves` compiles a
model file with LLVM into one function per tree, three to five times faster on one core. It
computes predictions, not leaves; but a model whose every tree is a class of its own
(`num_class` = the number of trees) and whose leaves' values are their own indices predicts,
as raw scores, exactly the leaf index of each tree. That model is what is compiled here, so
the fast path keeps the leaf lookup that the contributions and the raw score are read from
(`forecast.modeling.contributions`). The model itself is compiled beside it for batches scored
without reasons: their raw scores straight from the trees, the same to 1e-12 (the compiled
code adds the trees in blocks, LightGBM one by one).

Compiling takes seconds, so it is done once per loaded model, off the request path (the
first big batch starts it in a background thread: `forecast.modeling.contributions`); until it
is done, or if it fails, LightGBM serves. A compiled model is used only if it reaches
LightGBM's own leaves on probe rows made of every split's threshold, the values just beside
it, blanks and each category seen.
"""

from __future__ import annotations

import logging
import math
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

from forecast.collector import collector_held_off

log = logging.getLogger("forecast.scoring")

#: Rows of the probe that checks a compiled model against LightGBM.
PROBE_ROWS = 2048


class CompiledLeaves:
    """The leaves a batch of rows reaches, from the compiled trees: `(rows, trees)`; and, where
    it compiled too, each row's raw score from the model itself (`raw`)."""

    def __init__(self, compiled: Any, n_trees: int, seconds: float, raw: Any = None) -> None:
        self._compiled = compiled
        self._raw = raw
        self.n_trees = n_trees
        #: How long compiling took.
        self.seconds = seconds

    def __call__(self, matrix: np.ndarray) -> np.ndarray:
        # One thread: the service decides how many cores a batch gets, not the library.
        leaves = self._compiled.predict(matrix, n_jobs=1)
        return leaves.astype(np.intp).reshape(len(matrix), self.n_trees)

    @property
    def has_raw(self) -> bool:
        return self._raw is not None

    def raw(self, matrix: np.ndarray) -> np.ndarray:
        """Each row's raw score (log-odds), the trees summed in the compiled code: a batch
        scored without reasons needs no leaf indices (writing a row's 200 leaves and reading
        their values back costs more than walking the trees)."""
        return np.asarray(self._raw.predict(matrix, n_jobs=1), dtype=float)

    @classmethod
    def compile(cls, booster: lgb.Booster, dump: dict) -> CompiledLeaves | None:
        """The booster's trees compiled, or None (said in the log) where `lleaves` is missing,
        fails, or would reach a leaf LightGBM does not; `dump` is `booster.dump_model()`."""
        started = time.perf_counter()
        try:
            import lleaves
        except ImportError:
            log.info("lleaves is not installed: LightGBM finds the leaves")
            return None
        n_trees = booster.num_trees()
        if n_trees == 0 or booster.num_model_per_iteration() != 1:
            return None
        try:
            with tempfile.TemporaryDirectory(prefix="forecast-leaves-") as folder:
                path = Path(folder) / "leaves.txt"
                text = booster.model_to_string()
                path.write_text(leaf_index_model(text, n_trees))
                compiled = lleaves.Model(model_file=str(path))
                with collector_held_off():
                    compiled.compile(raw_score=True)
                raw = _compiled_raw(lleaves, Path(folder) / "model.txt", text)
            probe = probe_rows(dump, booster.num_feature())
            made = cls(compiled, n_trees, time.perf_counter() - started)
            expected = np.asarray(booster.predict(probe, pred_leaf=True, num_threads=1))
            if not np.array_equal(made(probe), expected.reshape(len(probe), n_trees)):
                log.warning("compiled trees reach other leaves than LightGBM: not used")
                return None
            if raw is not None:
                scores = np.asarray(booster.predict(probe, raw_score=True, num_threads=1))
                same = np.allclose(raw.predict(probe, n_jobs=1), scores, rtol=0, atol=1e-12)
                made._raw = raw if same else None
        except Exception:  # noqa: BLE001 - any failure leaves LightGBM serving, as before
            log.warning("compiling the trees failed: LightGBM finds the leaves", exc_info=True)
            return None
        made.seconds = time.perf_counter() - started
        log.info("compiled %d trees in %.1f s", n_trees, made.seconds)
        return made


def _compiled_raw(lleaves: Any, path: Path, text: str) -> Any:
    """The model itself compiled for raw scores, or None where that fails (the leaves serve)."""
    try:
        path.write_text(text)
        raw = lleaves.Model(model_file=str(path))
        with collector_held_off():
            raw.compile(raw_score=True)
    except Exception:  # noqa: BLE001 - the leaf lookup gives the same scores, a little slower
        log.warning("compiling the model's raw scores failed: the leaves give them", exc_info=True)
        return None
    return raw


def leaf_index_model(text: str, n_trees: int) -> str:
    """A LightGBM model file whose raw prediction is the leaf index reached in each tree: every
    tree a class of its own, every leaf's value its own index."""
    head, sep, trees = text.partition("\nTree=")
    if not sep:
        raise ValueError("the model holds no trees")
    for key in ("num_class", "num_tree_per_iteration"):
        head, found = re.subn(rf"^{key}=\d+$", f"{key}={n_trees}", head, flags=re.M)
        if found != 1:
            raise ValueError(f"the model file has no single {key}= line")

    def indices(line: re.Match) -> str:
        return "leaf_value=" + " ".join(str(i) for i in range(len(line.group(1).split())))

    trees, found = re.subn(r"^leaf_value=(.*)$", indices, trees, flags=re.M)
    if found != n_trees:
        raise ValueError(f"{found} leaf_value lines for {n_trees} trees")
    return head + sep + trees


def probe_rows(dump: dict, n_features: int, rows: int = PROBE_ROWS, seed: int = 0) -> np.ndarray:
    """Rows whose every input takes, at random, a value the trees split on: a threshold, the
    numbers just below and above it, a blank, or (for a categorical input) each category seen
    and one never seen."""
    values: list[set[float]] = [{math.nan, 0.0} for _ in range(n_features)]
    for tree in dump["tree_info"]:
        stack = [tree["tree_structure"]]
        while stack:
            node = stack.pop()
            if "split_feature" not in node:
                continue
            stack.extend((node["left_child"], node["right_child"]))
            seen = values[node["split_feature"]]
            if node["decision_type"] == "==":
                cats = [float(c) for c in str(node["threshold"]).split("||")]
                seen.update(cats)
                seen.update((max(cats) + 1.0, -1.0))
            else:
                t = float(node["threshold"])
                seen.update((t, math.nextafter(t, -math.inf), math.nextafter(t, math.inf)))
    rng = np.random.default_rng(seed)
    columns = [rng.choice(np.array(sorted(v, key=lambda x: (x != x, x))), rows) for v in values]
    return np.ascontiguousarray(np.column_stack(columns), dtype=np.float64)
