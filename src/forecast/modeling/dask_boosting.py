"""The boosted model fitted with `lightgbm.dask` on rows kept on a Dask cluster.

The fitted model is the same `BoostedClassifier` (or `PerTeamClassifier`) an in-process run
makes, fitted the same way, so the registry, scoring and serving never know where it was fitted:

- the encoder's levels are counted on the workers and merged in partition order (the order
  `FeatureEncoder.fit` would see);
- rows are split by deal into fitting, early-stopping and calibration parts with the same stable
  hash (`group_fractions`), on each partition;
- the booster is fitted on the fitting part by LightGBM's own data-parallel training, one task
  per worker (as `lightgbm.dask` runs it, with its port assignment), each worker's Dataset read
  from its partitions a block of rows at a time (`EncodedRows`): the fitting part's matrix is
  never held whole, where `lightgbm.dask` would join a worker's parts into one more copy (issue
  14: 5.7 GB a worker at 5M deals). Every round is fitted and the early-stopping part's weighted
  log loss after each round is summed over the partitions (from each row's leaf per tree); the
  booster is cut at the round LightGBM's `early_stopping` callback would have kept;
- the calibrator and grade cut points are fitted in this process on the calibration part's raw
  scores (three numbers per row), as `BoostedClassifier.fit` does;
- per-team models follow `PerTeamClassifier.fit`'s rule (enough won and lost deals, and a better
  AUC than the global model on the team's calibration rows).

Rows on the cluster are frames of the model's input columns plus `__y` (label), `__w` (weight)
and `__g` (group: the deal id, or the row's position for leads).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlparse

import lightgbm as lgb
import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from forecast.errors import InvalidInput
from forecast.modeling.encoding import FeatureEncoder
from forecast.modeling.estimators import (
    BoostedClassifier,
    PerTeamClassifier,
    group_fractions,
    per_group_weights,
)

if TYPE_CHECKING:
    from distributed import Client, Future

LABEL, WEIGHT, GROUP = "__y", "__w", "__g"
PARTS = ("fit", "valid", "calib")
#: LightGBM's floor on a probability in its log loss (`kEpsilon`).
_EPSILON = 1e-15
#: Rows per block when summing the early-stopping curve (rows × rounds floats at a time).
_CURVE_BLOCK = 20_000


@dataclass
class ClusterMatrix:
    """Training rows on the cluster: per partition, model inputs with `__y`, `__w`, `__g`."""

    parts: list[Future]
    columns: list[str]
    text_columns: list[str]


# --- on the workers -----------------------------------------------------------------------------


def level_counts_part(
    frame: pd.DataFrame, text_columns: Sequence[str], team_column: str | None
) -> dict[Any, dict[str, pd.Series]]:
    """Counts of each text column's values in order of first appearance: over all rows (key
    None) and, with `team_column`, over each team's rows."""
    groups: dict[Any, pd.DataFrame] = {None: frame}
    if team_column is not None and team_column in frame:
        teams = frame[team_column].astype(object)
        for team in teams.dropna().unique():
            groups[team] = frame[(teams == team).to_numpy()]
    return {
        key: {c: part[c].dropna().astype(str).value_counts(sort=False) for c in text_columns}
        for key, part in groups.items()
    }


def _team_mask(frame: pd.DataFrame, team_column: str | None, team: object) -> np.ndarray:
    if team_column is None or team is None:
        return np.ones(len(frame), dtype=bool)
    return (frame[team_column].astype(object) == team).to_numpy()


def split_part(
    frame: pd.DataFrame,
    encoder: FeatureEncoder,
    team_column: str | None,
    team: object,
    seed: int,
    calibration_fraction: float,
    validation_fraction: float,
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """A partition's (team's) rows split by group as `BoostedClassifier.fit` does, each part
    as (X, y, w). The early-stopping and calibration parts are encoded from the frame by their
    masks (`FeatureEncoder.transform`'s `rows`); the fitting part keeps the rows' positions in
    the frame instead of X, as LightGBM reads it a block at a time (`EncodedRows`)."""
    y, w = frame[LABEL].to_numpy(float), frame[WEIGHT].to_numpy(float)
    groups = frame[GROUP].to_numpy()
    u = group_fractions(groups, seed)
    mine = _team_mask(frame, team_column, team)
    calib = mine & (u < calibration_fraction)
    valid = mine & ~calib & (u < calibration_fraction + validation_fraction)
    fit = mine & ~(calib | valid)
    # The booster's weights, per group among the team's rows (a partition holds whole deals).
    wb = w.copy()
    wb[mine] = per_group_weights(w[mine], groups[mine])
    return {
        "fit": (np.flatnonzero(fit), y[fit], wb[fit]),
        "valid": (encoder.transform(frame, rows=valid), y[valid], wb[valid]),
        "calib": (encoder.transform(frame, rows=calib), y[calib], w[calib]),
    }


def split_sizes(split: dict[str, tuple[np.ndarray, ...]]) -> dict[str, tuple[int, int]]:
    """Per part: rows, and positive rows."""
    return {name: (len(y), int((y == 1).sum())) for name, (_, y, _) in split.items()}


class EncodedRows(lgb.Sequence):
    """A partition's fitting rows as LightGBM reads them: encoded a block at a time, so that
    a worker's Dataset is built without the fitting part's matrix (LightGBM samples single
    rows for its bins, in increasing order: each is taken from the block around it)."""

    batch_size = 65_536

    def __init__(self, frame: pd.DataFrame, positions: np.ndarray, encoder: FeatureEncoder):
        self.frame, self.positions, self.encoder = frame, positions, encoder
        self._block_at, self._block = -1, np.empty((0, len(encoder.columns)))

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, idx: int | slice) -> np.ndarray:  # type: ignore[override]
        if isinstance(idx, slice):
            start, stop, step = idx.indices(len(self))
            if step != 1:
                raise IndexError("rows are read in order, a block at a time")
            return self._encode(start, stop)
        at = int(idx) - int(idx) % self.batch_size
        if at != self._block_at:
            self._block_at = at
            self._block = self._encode(at, min(at + self.batch_size, len(self)))
        return self._block[int(idx) - at]

    def _encode(self, start: int, stop: int) -> np.ndarray:
        return self.encoder.transform(self.frame.iloc[self.positions[start:stop]])


def train_part(
    parts: list[tuple[pd.DataFrame, dict[str, tuple[np.ndarray, ...]]]],
    encoder: FeatureEncoder,
    params: dict[str, Any],
    rounds: int,
    held_port: Any,
    return_model: bool,
) -> str | None:
    """One worker's share of LightGBM's data-parallel training on its partitions' fitting
    rows (in partition order); the booster as text from the worker asked for it."""
    lgb.register_logger(_QuietLogger())
    quiet_lightgbm()
    fits = [split["fit"] for _, split in parts]
    train_set = lgb.Dataset(
        [EncodedRows(frame, split["fit"][0], encoder) for frame, split in parts],
        np.concatenate([y for _, y, _ in fits]),
        weight=np.concatenate([w for _, _, w in fits]),
        categorical_feature=encoder.categorical_indices,
        params=params,
        free_raw_data=True,
    )
    if held_port is not None:
        held_port.release()  # the port LightGBM's network listens on, held until now
    booster = lgb.train(params, train_set, num_boost_round=rounds)
    try:
        return booster.model_to_string() if return_model else None
    finally:
        booster.free_network()


def curve_part(
    split: dict[str, tuple[np.ndarray, ...]], model_str: str, leaf_values: np.ndarray
) -> tuple[np.ndarray, float]:
    """The early-stopping part's weighted log loss summed after each round, and its weight."""
    X, y, w = split["valid"]
    rounds = leaf_values.shape[0]
    total = np.zeros(rounds)
    if len(y) == 0:
        return total, 0.0
    booster = lgb.Booster(model_str=model_str)
    trees = np.arange(rounds)
    for start in range(0, len(y), _CURVE_BLOCK):
        block = slice(start, start + _CURVE_BLOCK)
        leaves = np.asarray(booster.predict(X[block], pred_leaf=True)).reshape(-1, rounds)
        raw = np.cumsum(leaf_values[trees[None, :], leaves], axis=1)
        p = 1.0 / (1.0 + np.exp(-raw))
        yb = y[block][:, None]
        loss = np.where(
            yb > 0, -np.log(np.maximum(p, _EPSILON)), -np.log(np.maximum(1.0 - p, _EPSILON))
        )
        total += (w[block][:, None] * loss).sum(axis=0)
    return total, float(w.sum())


def raw_part(split: dict[str, tuple[np.ndarray, ...]], model_str: str) -> tuple[np.ndarray, ...]:
    """The calibration part's raw scores, labels and weights."""
    X, y, w = split["calib"]
    if len(y) == 0:
        return np.zeros(0), y, w
    raw = np.asarray(lgb.Booster(model_str=model_str).predict(X, raw_score=True))
    return raw, y, w


def team_deals_part(frame: pd.DataFrame, team_column: str) -> pd.DataFrame:
    """Per team: its deals (groups) that were won and lost, counting a deal once per team."""
    deals = pd.DataFrame(
        {"team": frame[team_column].astype(object), "g": frame[GROUP], "y": frame[LABEL]}
    ).dropna(subset=["team"])
    deals = deals.drop_duplicates(["team", "g"])
    return deals.groupby("team", sort=False)["y"].agg(won="sum", n="size").reset_index()


def held_scores_part(
    frame: pd.DataFrame,
    team_column: str,
    team: object,
    seed: int,
    calibration_fraction: float,
    team_model: BoostedClassifier,
    global_model: BoostedClassifier,
) -> tuple[np.ndarray, ...]:
    """The team's calibration rows: labels, weights, and both models' raw scores."""
    calib = group_fractions(frame[GROUP].to_numpy(), seed) < calibration_fraction
    held = frame[_team_mask(frame, team_column, team) & calib]
    if len(held) == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0)
    return (
        held[LABEL].to_numpy(float),
        held[WEIGHT].to_numpy(float),
        team_model.decision_function(held),
        global_model.decision_function(held),
    )


# --- on the client ------------------------------------------------------------------------------


def scatter_matrix(
    client: Client, X: pd.DataFrame, y: np.ndarray, w: np.ndarray | None, groups: Any, parts: int
) -> ClusterMatrix:
    """Rows held in this process (leads), cut into `parts` contiguous partitions on the cluster."""
    frame = X.assign(
        **{
            LABEL: np.asarray(y, float),
            WEIGHT: np.ones(len(X)) if w is None else np.asarray(w, float),
            GROUP: np.arange(len(X)) if groups is None else np.asarray(groups),
        }
    )
    bounds = np.linspace(0, len(frame), max(1, parts) + 1).round().astype(int)
    pieces = [frame.iloc[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]
    return ClusterMatrix(client.scatter(pieces, hash=False), list(X.columns), text_columns(X))


def text_columns(X: pd.DataFrame) -> list[str]:
    return [str(c) for c in X.columns if not is_numeric_dtype(X[c])]


def level_counts(
    client: Client, data: ClusterMatrix, team_column: str | None
) -> dict[Any, dict[str, pd.Series]]:
    """Each text column's value counts over all rows (None) and per team, summed over the
    partitions with ties in order of first appearance (as `value_counts` on all rows)."""
    found = client.gather(
        [client.submit(level_counts_part, p, data.text_columns, team_column) for p in data.parts]
    )
    merged: dict[Any, dict[str, dict[str, int]]] = {}
    for part in found:
        for key, columns in part.items():
            into = merged.setdefault(key, {c: {} for c in data.text_columns})
            for col, counts in columns.items():
                seen = into[col]
                for value, n in counts.items():
                    seen[value] = seen.get(value, 0) + int(n)
    return {
        key: {
            col: pd.Series(list(seen.values()), index=list(seen.keys()), dtype="int64").sort_values(
                ascending=False, kind="stable"
            )
            for col, seen in columns.items()
        }
        for key, columns in merged.items()
    }


def encoder_from_counts(
    columns: Sequence[str], counts: dict[str, pd.Series], max_levels: int
) -> FeatureEncoder:
    """The encoder `FeatureEncoder(max_levels).fit` makes of rows with these value counts."""
    encoder = FeatureEncoder(max_levels)
    encoder.columns = [str(c) for c in columns]
    encoder.levels = {c: [str(v) for v in s.index[:max_levels]] for c, s in counts.items()}
    encoder.__setstate__(encoder.__getstate__())  # the lookup tables the fitted encoder keeps
    return encoder


class _QuietLogger:
    """LightGBM's Python-side messages ("Finding random open ports for workers") to `logging`,
    not stdout, where they would break `--json` output."""

    def info(self, msg: str) -> None:
        logging.getLogger("lightgbm").debug(msg)

    def warning(self, msg: str) -> None:
        # Threads are set per worker by lightgbm.dask, whatever n_jobs says: not news.
        level = logging.DEBUG if "will be ignored" in msg else logging.WARNING
        logging.getLogger("lightgbm").log(level, msg)


def quiet_lightgbm() -> None:
    """In a worker's task thread: LightGBM's log level (per thread) set to fatal before its
    network starts, which logs at the default level otherwise, on the worker's stdout."""
    lgb.Dataset(np.zeros((2, 1)), label=[0.0, 1.0], params={"verbose": -1}).construct()


def _fit_booster(
    client: Client,
    base: BoostedClassifier,
    data: ClusterMatrix,
    splits: Sequence[Future],
    sizes: Sequence[dict],
    encoder: FeatureEncoder,
) -> lgb.Booster:
    """`base`'s booster fitted on every partition's fitting rows, with LightGBM's own
    data-parallel training: one task per worker holding fitting rows, on the partitions it
    holds, each worker's threads its own (as `lightgbm.dask` runs it)."""
    from lightgbm.dask import _assign_open_ports_to_workers

    lgb.register_logger(_QuietLogger())
    held = [(p, s) for p, s, n in zip(data.parts, splits, sizes, strict=True) if n["fit"][0]]
    where = client.who_has([s for _, s in held])
    by_worker: dict[str, list[tuple[Future, Future]]] = {}
    for part, split in held:
        by_worker.setdefault(next(iter(where[split.key])), []).append((part, split))
    workers = list(by_worker)
    params = {**base._lgb_params(), **base._monotone(encoder.columns)}  # as in process
    sockets: dict[str, Any] = {}
    ports: dict[str, int] = {}
    if len(workers) > 1:
        sockets, ports = _assign_open_ports_to_workers(client=client, workers=workers)
        params.update(
            tree_learner="data",
            num_machines=len(workers),
            machines=",".join(f"{urlparse(w).hostname}:{ports[w]}" for w in workers),
        )
    threads = client.ncores()
    tasks = [
        client.submit(
            train_part,
            by_worker[worker],
            encoder,
            {
                **params,
                "num_threads": threads[worker],
                **({"local_listen_port": ports[worker]} if ports else {}),
            },
            base.n_estimators,
            sockets.get(worker),
            i == 0,
            workers=[worker],
            allow_other_workers=False,
            pure=False,
        )
        for i, worker in enumerate(workers)
    ]
    return lgb.Booster(model_str=client.gather(tasks)[0])


def _leaf_values(booster: lgb.Booster) -> np.ndarray:
    """Rounds × leaves: each tree's leaf outputs (their sum over trees is the raw score)."""
    trees = booster.dump_model()["tree_info"]
    table = np.zeros((len(trees), max(t["num_leaves"] for t in trees)))
    for t, tree in enumerate(trees):
        for leaf in range(tree["num_leaves"]):
            table[t, leaf] = booster.get_leaf_output(t, leaf)
    return table


def best_round(curve: np.ndarray, patience: int) -> int:
    """The round (1-based) LightGBM's `early_stopping(patience)` keeps: the lowest loss seen
    before `patience` rounds pass without a strict improvement."""
    best, best_at = np.inf, 0
    for i, loss in enumerate(curve):
        if loss < best:
            best, best_at = loss, i
        elif i - best_at >= patience:
            break
    return best_at + 1


def fit_boosted(
    client: Client,
    base: BoostedClassifier,
    data: ClusterMatrix,
    counts: dict[str, pd.Series],
    *,
    team_column: str | None = None,
    team: object = None,
) -> BoostedClassifier:
    """`base` fitted on the cluster's rows (of one team, with `team`), as `BoostedClassifier.fit`
    fits it in process."""
    if base.calibration not in ("sigmoid", "isotonic"):
        raise InvalidInput(f"calibration must be 'sigmoid' or 'isotonic', not {base.calibration!r}")
    encoder = encoder_from_counts(data.columns, counts, base.max_levels)
    shared = client.scatter(encoder, broadcast=True, hash=False)
    splits = [
        client.submit(
            split_part,
            p,
            shared,
            team_column,
            team,
            base.random_state,
            base.calibration_fraction,
            base.validation_fraction,
        )
        for p in data.parts
    ]
    sizes = client.gather([client.submit(split_sizes, s) for s in splits])
    total = {n: (sum(s[n][0] for s in sizes), sum(s[n][1] for s in sizes)) for n in PARTS}
    for name, shown in (("fit", "fitting"), ("calib", "calibration"), ("valid", "early-stopping")):
        rows, positive = total[name]
        if positive == 0 or positive == rows:
            raise InvalidInput(
                f"too few rows to fit: the {shown} part ({rows} rows) holds one class only; "
                "give more history"
            )
    booster = _fit_booster(client, base, data, splits, sizes, encoder)
    model_str = client.scatter(booster.model_to_string(), broadcast=True, hash=False)
    leaf_values = client.scatter(_leaf_values(booster), broadcast=True, hash=False)
    curves = client.gather([client.submit(curve_part, s, model_str, leaf_values) for s in splits])
    curve = sum(c for c, _ in curves) / max(sum(t for _, t in curves), 1e-300)
    best = best_round(np.asarray(curve), base.early_stopping_rounds)
    if best < booster.current_iteration():
        booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
    best_str = client.scatter(booster.model_to_string(), broadcast=True, hash=False)
    calib = client.gather([client.submit(raw_part, s, best_str) for s in splits])
    raw, y_cal, w_cal = (np.concatenate([c[i] for c in calib]) for i in range(3))

    model = cast(BoostedClassifier, clone(base))
    model.encoder_ = encoder
    model.feature_names_in_ = np.array(encoder.columns, dtype=object)
    model.n_features_in_ = len(encoder.columns)
    model.booster_ = booster
    model.best_iteration_ = int(best)
    # The calibration steps `BoostedClassifier.fit` runs after its booster, on the same rows.
    model._fit_calibrator(raw, y_cal, w_cal)
    model.grade_cuts_ = model._grade_cuts(model._calibrate(raw), w_cal)
    model.feature_importances_ = booster.feature_importance("gain")
    model.classes_ = np.array([0, 1])
    model.n_rows_ = {"fit": total["fit"][0], "early_stopping": total["valid"][0]}
    model.n_rows_["calibration"] = total["calib"][0]
    return model


def fit_per_team(client: Client, template: PerTeamClassifier, data: ClusterMatrix) -> Any:
    """`template` fitted on the cluster's rows by `PerTeamClassifier.fit`'s rule: a global
    model, and a team's own model where the team has enough won and lost deals and its model
    ranks the team's calibration rows better than the global one."""
    base = template.base if template.base is not None else BoostedClassifier()
    column = template.team_column
    has_team = column in data.columns
    counts = level_counts(client, data, column if has_team else None)
    model = cast(PerTeamClassifier, clone(template))
    model.global_ = fit_boosted(client, base, data, counts[None])
    model.team_models_ = {}
    model.team_report_ = {}
    if has_team:
        shared_global = client.scatter(model.global_, broadcast=True, hash=False)
        found = client.gather([client.submit(team_deals_part, p, column) for p in data.parts])
        deals = pd.concat(found).groupby("team", sort=False)[["won", "n"]].sum()
        for team, row in deals.iterrows():
            won, lost = int(row["won"]), int(row["n"] - row["won"])
            entry: dict[str, Any] = {"won": won, "lost": lost, "used": False}
            model.team_report_[str(team)] = entry
            if won < template.min_won or lost < template.min_lost:
                entry["why"] = (
                    f"too little history ({won} won, {lost} lost; needs "
                    f"{template.min_won} and {template.min_lost})"
                )
                continue
            try:
                own = fit_boosted(client, base, data, counts[team], team_column=column, team=team)
            except InvalidInput as exc:
                entry["why"] = str(exc)
                continue
            shared_own = client.scatter(own, hash=False)
            held = client.gather(
                [
                    client.submit(
                        held_scores_part,
                        p,
                        column,
                        team,
                        base.random_state,
                        base.calibration_fraction,
                        shared_own,
                        shared_global,
                    )
                    for p in data.parts
                ]
            )
            y, w, d_team, d_global = (np.concatenate([h[i] for h in held]) for i in range(4))
            if len(np.unique(y)) < 2:
                entry["why"] = "no held-out rows of both outcomes to compare on"
                continue
            auc_team = roc_auc_score(y, d_team, sample_weight=w)
            auc_global = roc_auc_score(y, d_global, sample_weight=w)
            entry.update(auc_team=float(auc_team), auc_global=float(auc_global))
            if auc_team > auc_global:
                model.team_models_[str(team)] = own
                entry["used"] = True
                entry["why"] = "own model ranks the team's held-out deals better"
            else:
                entry["why"] = "global model ranks the team's held-out deals as well or better"
    model.classes_ = np.array([0, 1])
    model.feature_names_in_ = model.global_.feature_names_in_
    model.n_features_in_ = model.global_.n_features_in_
    model.grade_cuts_ = model.global_.grade_cuts_
    return model
