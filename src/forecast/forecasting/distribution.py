"""The exact distribution of a sum of independent deal outcomes, on lattices: numpy only.

Each group's total is convolved on a lattice of 512 points spanning the interval that holds all
but 1e-12 of its probability (Bernstein's bound). A deal's amount falls between two lattice
points and its mass is split between them in proportion, which keeps every mean exact. Groups are
convolved deal by deal in cells of up to 256 deals (vectorised across cells), cells are joined by
FFT, new deals enter through the compound-Poisson characteristic function, and the total is
convolved the same way from every deal at once on a 4,096-point lattice, so its range and chance
of target are the same whatever the grouping (the groups' means add up to it). It is exact up to
the lattice step and deterministic (no seed). Forecast drift widens a distribution through a
mean-one log-normal factor (`Distribution.scaled`).

A few deals far bigger than the rest (one enterprise deal among hundreds of small ones) would
set the step, for the window must hold them, and smear every other deal into one or two points:
one 1e9 deal at 1% among a thousand of 1,000 at 50% made P10 zero. So the biggest parts of a
group (deals or new-deal streams) whose amount, left on the lattice, would make its step coarser
than 1/`COARSE` of the standard deviation of the group's smaller parts are kept apart: their
exact joint outcomes (won or lost, or a stream's Poisson count; equal sums merged, outcomes
below 1e-13 dropped) are point masses, and the group's distribution is the mixture of the other
deals' lattice shifted by each outcome (one row per outcome, `Distribution`). The cost stays
bounded whatever the input: at most `MAX_APART` parts per group are looked at and at most
`MAX_OUTCOMES` joint outcomes kept; past that the remaining parts stay on the lattice, as
without this (their range is then only as fine as the step they set).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.special import ndtri
from scipy.stats import poisson

LATTICE = 512
GROUP_LATTICE = 2048  # per group (512 when there are many groups)
TOTAL_LATTICE = 4096
CELL_DEALS = 256
_TAIL_LOG = math.log(2 / 1e-12)  # Bernstein: mass outside the window below 1e-12
COARSE = 64  # a part kept apart would make the step coarser than 1/64 of the others' sd
MAX_APART = 16  # a group's biggest parts looked at for keeping apart
MAX_OUTCOMES = 32  # joint outcomes of the parts kept apart, at most (5 deals)
NEGLIGIBLE = 1e-13  # chance below which a joint outcome is dropped


@lru_cache
def _normal_quantiles(nodes: int) -> np.ndarray:
    """Standard normal quantiles at the midpoints of `nodes` equal-probability slices."""
    return ndtri((np.arange(nodes) + 0.5) / nodes)


# --- the distribution ----------------------------------------------------------------------------


@dataclass
class Distribution:
    """A mixture of lattices: row i puts masses `pmf[i]` on the evenly spaced `values[i]` (`step[i]`
    apart, 0 for a single point), and all rows' masses add up to one.

    One row is one lattice. Deals kept apart make one row per joint outcome of theirs: the other
    deals' lattice shifted by it, with the outcome's chance as its mass.
    """

    values: np.ndarray  # (rows, points)
    pmf: np.ndarray  # (rows, points)
    step: np.ndarray  # (rows,)

    @classmethod
    def lattice(cls, values: np.ndarray, pmf: np.ndarray, step: float) -> Distribution:
        """One lattice (one row)."""
        return cls(np.asarray(values)[None, :], np.asarray(pmf)[None, :], np.array([step]))

    def shifted(self, by: np.ndarray, chance: np.ndarray) -> Distribution:
        """The mixture of this one moved by `by[j]` with chance `chance[j]` (a sum of it and an
        independent discrete part)."""
        rows = np.repeat(np.arange(len(self.values)), len(by))
        moves = np.tile(by, len(self.values))
        weights = np.tile(chance, len(self.values))
        return Distribution(
            self.values[rows] + moves[:, None], self.pmf[rows] * weights[:, None], self.step[rows]
        )

    @property
    def mean(self) -> float:
        return float(np.sum(self.values * self.pmf))

    def _ordered(self) -> tuple[np.ndarray, np.ndarray]:
        """Every point in ascending order and P(value ≤ it) there (computed once)."""
        if not hasattr(self, "_sorted"):
            values, masses = self.values.ravel(), self.pmf.ravel()
            if len(self.values) > 1:
                order = np.argsort(values, kind="stable")
                values, masses = values[order], masses[order]
            self._sorted = (values, np.cumsum(masses))
        return self._sorted

    def quantile(self, q: float) -> float:
        values, cdf = self._ordered()
        j = min(int(np.searchsorted(cdf, q * cdf[-1] - 1e-12)), len(cdf) - 1)
        return float(values[j])

    def cdf(self, x: np.ndarray) -> np.ndarray:
        """P(value ≤ x) at each x."""
        x = np.asarray(x, dtype=float)
        return self._rows_cdf(np.broadcast_to(x, (len(self.values), *x.shape))).sum(axis=0)

    def _rows_cdf(self, x: np.ndarray) -> np.ndarray:
        """Row i's mass at or below each x[i] (x shaped rows × anything). A row's values are
        evenly spaced: index arithmetic."""
        n_rows, n = self.values.shape
        cum = np.concatenate([np.zeros((n_rows, 1)), np.cumsum(self.pmf, axis=1)], axis=1)
        out = np.empty(x.shape)
        even = (self.step > 0) & (n > 1)
        if even.any():
            shape = (-1,) + (1,) * (x.ndim - 1)
            start = self.values[even, 0].reshape(shape)
            step = self.step[even].reshape(shape)
            at = (x[even] - start) / step
            at += 1e-9 + 1  # + 1: cum's first column is the mass below the row
            # clipped before the cast: far past the end (a tiny drift factor) it would overflow
            np.clip(at, 0, n, out=at)
            j = at.astype(np.int64)  # the floor: `at` is not negative
            j += (np.arange(len(j)) * (n + 1)).reshape(shape)
            out[even] = cum[even].ravel()[j]
        for i in np.flatnonzero(~even):
            out[i] = cum[i][np.searchsorted(self.values[i], x[i], side="right")]
        return out

    def scaled(self, sigma: float, nodes: int = 16, size: int = 512) -> Distribution:
        """The distribution of F·X, F log-normal with mean 1 and log sd `sigma` (drift).

        Row by row (F·X is the mixture of F times each row), so a row far out, a big deal won,
        does not coarsen the grid of the others.
        """
        z = _normal_quantiles(nodes)
        factors = np.exp(sigma * z - sigma**2 / 2)
        lows = self.values[:, 0] * factors.min()
        highs = self.values[:, -1] * factors.max()
        if (highs <= lows).all():
            return self
        grid = np.linspace(lows, highs, size, axis=1)
        cdf = self._rows_cdf(grid[:, None, :] / factors[None, :, None]).mean(axis=1)
        pmf = np.diff(cdf, axis=1, prepend=0.0)
        mass = self.pmf.sum(axis=1)
        pmf[:, -1] += mass - pmf.sum(axis=1)
        still = highs <= lows  # a point at zero: no factor moves it
        pmf[still] = 0.0
        pmf[still, 0] = mass[still]
        step = np.where(still, 0.0, grid[:, 1] - grid[:, 0])
        return Distribution(grid, np.clip(pmf, 0.0, None), step)

    def prob_at_least(self, x: float) -> float:
        """P(value ≥ x), each lattice read linearly between its points."""
        step = self.step[:, None]
        linear = np.clip((self.values - x) / np.where(step > 0, step, 1.0) + 1.0, 0.0, 1.0)
        weight = np.where(step > 0, linear, self.values >= x)
        return float(np.clip(np.sum(weight * self.pmf), 0.0, 1.0))


def _window(
    mean: np.ndarray, var: np.ndarray, biggest: np.ndarray, low: np.ndarray, high: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Bounds holding all but a negligible share of a sum of independent bounded parts.

    8 standard deviations, plus the largest single part (so one rare big deal, won or not,
    stays inside), clipped to what the sum can reach.
    """
    t = 8.0 * np.sqrt(var) + biggest
    return np.maximum(low, mean - t), np.minimum(high, mean + t)


def _rebin(
    values: np.ndarray,
    masses: np.ndarray,
    step: float | np.ndarray,
    L: int,
    row: np.ndarray,
    n_rows: int,
) -> np.ndarray:
    """Masses at `values` split onto a lattice of `step` (mod L), linearly: means stay exact."""
    x = values / step
    m0 = np.floor(x).astype(np.int64)
    f = x - m0
    flat = np.bincount(row * L + m0 % L, masses * (1 - f), n_rows * L)
    flat += np.bincount(row * L + (m0 + 1) % L, masses * f, n_rows * L)
    return flat.reshape(n_rows, L)


def group_distributions(
    amount: np.ndarray,
    prob: np.ndarray,
    group: np.ndarray,
    n_groups: int,
    new_amount: np.ndarray | None = None,
    new_rate: np.ndarray | None = None,
    new_group: np.ndarray | None = None,
    *,
    lattice: int = LATTICE,
    group_lattice: int | None = None,
    cell_deals: int = CELL_DEALS,
) -> list[Distribution]:
    """Per group, the distribution of Σ amount·Bernoulli(prob) (+ a compound-Poisson part).

    Deals are independent. `new_rate[i]` is the Poisson rate of deals like template i (amount
    `new_amount[i]`) in group `new_group[i]`. Deals are sorted by amount inside their group and
    cut into cells of similar deals; each cell is convolved exactly on its own fine lattice,
    then the cells of a group (and its new deals) are joined by FFT on the group's lattice.
    A group's few far bigger parts are kept apart, as point masses (`_kept_apart`).
    """
    if group_lattice is None:  # a group's window spans ~16 sd: 512 points still resolve it
        group_lattice = GROUP_LATTICE if n_groups <= 64 else GROUP_LATTICE // 4
    a = np.asarray(amount, dtype=float)
    p = np.clip(np.asarray(prob, dtype=float), 0.0, 1.0)
    g = np.asarray(group, dtype=np.int64)
    keep = (p > 0) & (a > 0)
    a, p, g = a[keep], p[keep], g[keep]
    nr = na = ng = np.zeros(0)
    if new_rate is not None and len(new_rate):
        nr = np.asarray(new_rate, dtype=float)
        na = np.asarray(new_amount, dtype=float)
        ng = np.asarray(new_group, dtype=np.int64)
        ok = (nr > 0) & (na > 0)
        nr, na, ng = nr[ok], na[ok], ng[ok]
    ng = ng.astype(np.int64)
    parts, parts_group = np.r_[a, na], np.r_[g, ng]
    order = np.lexsort((parts, parts_group))  # by group, then amount (one sort for both uses)
    apart, outcomes = _kept_apart(
        parts, np.r_[p, nr], parts_group, order, len(a), n_groups, group_lattice
    )
    deals = order[(order < len(a)) & ~apart[order]]  # still by group, then amount
    new_on = ~apart[len(a) :]
    a, p, g = a[deals], p[deals], g[deals]
    nr, na, ng = nr[new_on], na[new_on], ng[new_on]

    # Cells: up to `cell_deals` deals of similar amount in one group.
    counts = np.bincount(g, minlength=n_groups)
    n_cells_g = -(-counts // cell_deals)
    first_cell = np.cumsum(n_cells_g) - n_cells_g
    within = np.arange(len(g)) - (np.cumsum(counts) - counts)[g]
    cell = first_cell[g] + within // cell_deals
    n_cells = int(n_cells_g.sum())
    cell_group = np.repeat(np.arange(n_groups), n_cells_g)
    c_mean = np.bincount(cell, a * p, n_cells)
    c_var = np.bincount(cell, a * a * p * (1 - p), n_cells)
    c_high = np.bincount(cell, a, n_cells)
    c_big = np.zeros(n_cells)
    np.maximum.at(c_big, cell, a)
    c_lo, c_hi = _window(c_mean, c_var, c_big, np.zeros(n_cells), c_high)
    c_step = np.maximum(c_hi - c_lo, 1e-9) / (lattice - 2)
    c_base = np.floor(c_lo / c_step).astype(np.int64)
    pmf = _cell_pmfs(a, p, cell, n_cells, c_step[cell], lattice)
    idx = c_base[:, None] + np.arange(lattice)
    c_values = idx * c_step[:, None]
    c_masses = np.take_along_axis(pmf, idx % lattice, axis=1)

    # Groups: window from the cells' and new deals' moments.
    # (float: `bincount` of no cells at all is an int array, and the new deals add to these)
    g_mean = np.bincount(cell_group, c_mean, n_groups).astype(float)
    g_var = np.bincount(cell_group, c_var, n_groups).astype(float)
    # A cell's mass may sit one of its lattice steps beyond its window: keep that inside.
    g_lo = np.maximum(np.bincount(cell_group, c_lo - c_step, n_groups), 0.0).astype(float)
    g_hi = np.bincount(cell_group, c_hi + c_step, n_groups).astype(float)
    g_big = np.zeros(n_groups)
    np.maximum.at(g_big, cell_group, c_hi - c_lo)
    if len(nr):
        g_mean += np.bincount(ng, nr * na, n_groups)
        g_var += np.bincount(ng, nr * na * na, n_groups)
        g_hi = np.where(np.bincount(ng, nr, n_groups) > 0, np.inf, g_hi)
        np.maximum.at(g_big, ng, na)
    lo, hi = _window(g_mean, g_var, g_big, g_lo, g_hi)
    width = np.maximum(hi - lo, 0.0)
    step = np.where(width > 0, width / (group_lattice - 4), 1.0)
    base = np.floor(lo / step).astype(np.int64)

    measure = _rebin(
        c_values.ravel(),
        c_masses.ravel(),
        np.repeat(step[cell_group], lattice),
        group_lattice,
        np.repeat(np.arange(n_cells), lattice),
        n_cells,
    )
    spectrum = np.ones((n_groups, group_lattice // 2 + 1), dtype=complex)
    if n_cells:
        cell_spectra = np.fft.rfft(measure, axis=1)
        has = n_cells_g > 0
        spectrum[has] = np.multiply.reduceat(cell_spectra, first_cell[has], axis=0)
    if len(nr):
        rate = _rebin(na, nr, step[ng], group_lattice, ng, n_groups)
        spectrum *= np.exp(np.fft.rfft(rate, axis=1) - rate.sum(1, keepdims=True))
    dense = np.clip(np.fft.irfft(spectrum, n=group_lattice, axis=1), 0.0, None)
    dense /= np.maximum(dense.sum(1, keepdims=True), 1e-300)
    out = []
    for i in range(n_groups):
        if width[i] <= 0:
            dist = Distribution.lattice(np.array([0.0]), np.array([1.0]), 0.0)
        else:
            idx_g = base[i] + np.arange(group_lattice)
            dist = Distribution.lattice(
                idx_g * step[i], dense[i, idx_g % group_lattice], float(step[i])
            )
        out.append(dist.shifted(*outcomes[i]) if i in outcomes else dist)
    return out


def _kept_apart(
    amount: np.ndarray,
    chance: np.ndarray,
    group: np.ndarray,
    order: np.ndarray,
    n_deals: int,
    n_groups: int,
    lattice: int,
) -> tuple[np.ndarray, dict[int, tuple[np.ndarray, np.ndarray]]]:
    """Which parts are kept off the lattice, and per group the joint outcomes of those.

    Parts are the deals (the first `n_deals`, `chance` a probability) and the new-deal streams
    (`chance` a Poisson rate). Among a group's `MAX_APART` biggest, a part is too big for the
    lattice when its amount exceeds lattice/`COARSE` standard deviations of the group's smaller
    parts: left on, it alone would make the step (≥ amount/lattice) coarser than 1/`COARSE` of
    their spread. That part and every bigger one are kept apart, biggest first, while their
    joint outcomes number at most `MAX_OUTCOMES`; the rest stay on the lattice. `order` sorts
    the parts by group, then amount.
    """
    stream = np.arange(len(amount)) >= n_deals
    var = amount * amount * np.where(stream, chance, chance * (1 - chance))
    g = group[order]
    counts = np.bincount(g, minlength=n_groups)
    last_of = np.cumsum(counts) - 1
    rank = last_of[g] - np.arange(len(g))  # 0 for a group's biggest part
    top = rank < MAX_APART
    # The variance below each of the biggest parts, summed from the smallest up (no cancellation).
    below = np.zeros((n_groups, MAX_APART + 1))
    below[:, MAX_APART] = np.bincount(g[~top], var[order][~top], n_groups)
    top_var = np.zeros((n_groups, MAX_APART))
    top_amount = np.zeros((n_groups, MAX_APART))
    top_var[g[top], rank[top]] = var[order][top]
    top_amount[g[top], rank[top]] = amount[order][top]
    for r in range(MAX_APART - 1, -1, -1):
        below[:, r] = below[:, r + 1] + top_var[:, r]
    rest = below[:, 1:]  # the variance of the parts smaller than rank r
    too_big = (rest > 0) & (top_amount > lattice / COARSE * np.sqrt(rest))
    apart = np.zeros(len(amount), dtype=bool)
    outcomes: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for i in np.flatnonzero(too_big.any(axis=1)):
        last = int(np.flatnonzero(too_big[i])[-1])
        sums: np.ndarray = np.zeros(1)
        chances: np.ndarray = np.ones(1)
        for j in order[last_of[i] - np.arange(last + 1)]:  # the biggest first
            part = _part_outcomes(float(amount[j]), float(chance[j]), bool(stream[j]))
            if part is None:
                break
            sums, merged = np.unique(np.add.outer(sums, part[0]).ravel(), return_inverse=True)
            chances = np.bincount(merged, np.outer(chances, part[1]).ravel())
            kept = chances > NEGLIGIBLE
            sums, chances = sums[kept], chances[kept]
            if len(sums) > MAX_OUTCOMES:
                break
            apart[j] = True
            outcomes[int(i)] = (sums, chances / chances.sum())
    return apart, outcomes


def outsized_bar(amount: np.ndarray, var: np.ndarray, lattice: int = TOTAL_LATTICE) -> float:
    """The amount above which a part of one total is far bigger than the rest: the rule
    `_kept_apart` holds parts apart by, without its cost caps, for measures that must not be
    swung by one outcome (a forecast's past misses, the value per new deal).

    Parts are taken from the smallest up; one whose amount exceeds lattice/`COARSE` standard
    deviations of the parts smaller than it is too big, with every bigger one. The bar is
    lattice/`COARSE` standard deviations of the parts left (`var`: each part's variance): every
    part left lies at or below it and every part too big above it. Infinite when the parts
    left do not vary (nothing to measure a part against).
    """
    a = np.asarray(amount, dtype=float)
    v = np.asarray(var, dtype=float)
    order = np.argsort(a, kind="stable")
    a, v = a[order], v[order]
    below = np.cumsum(v) - v  # the variance of the parts smaller than each
    too_big = (below > 0) & (a > lattice / COARSE * np.sqrt(below))
    left = v[: int(np.argmax(too_big))].sum() if too_big.any() else v.sum()
    return lattice / COARSE * math.sqrt(left) if left > 0 else math.inf


def _part_outcomes(
    amount: float, chance: float, stream: bool
) -> tuple[np.ndarray, np.ndarray] | None:
    """A deal's outcomes (lost, won) or a stream's (0, 1, 2, ... deals), with their chances;
    None where a stream's counts that matter are more than `MAX_OUTCOMES`."""
    if not stream:
        return np.array([0.0, amount]), np.array([1 - chance, chance])
    most = int(poisson.isf(NEGLIGIBLE, chance)) + 1
    if most >= MAX_OUTCOMES:
        return None
    n = np.arange(most + 1)
    return n * amount, poisson.pmf(n, chance)


def _cell_pmfs(
    a: np.ndarray, p: np.ndarray, cell: np.ndarray, n_cells: int, step: np.ndarray, L: int
) -> np.ndarray:
    """Each cell's exact distribution on its lattice (mod L), one deal per cell at a time.

    A deal of x lattice steps adds (1−p)·pmf + p·(1−f)·shift(pmf, ⌊x⌋) + p·f·shift(pmf, ⌊x⌋+1),
    f = x − ⌊x⌋. The pmf is stored twice side by side, so every row's cyclic shift is a window
    of one strided view (no index arrays).
    """
    buf = np.zeros((n_cells, 2 * L), dtype=np.float32)
    buf[:, 0] = buf[:, L] = 1.0
    if len(a) == 0:
        return buf[:, :L].astype(float)
    counts = np.bincount(cell, minlength=n_cells)
    pos = np.arange(len(a)) - (np.cumsum(counts) - counts)[cell]
    depth = int(counts.max())
    x = a / step
    m0 = np.floor(x).astype(np.int64)
    frac = (x - m0).astype(np.float32)
    prob = np.zeros((depth, n_cells), np.float32)
    shift = np.zeros((depth, n_cells), np.int64)
    part = np.zeros((depth, n_cells), np.float32)
    prob[pos, cell], shift[pos, cell], part[pos, cell] = p, m0 % L, frac
    view = sliding_window_view(buf, L, axis=1)
    rows = np.arange(n_cells)
    for i in range(depth):
        active = prob[i] > 0
        r = rows[active] if not active.all() else rows
        q, s, f = prob[i, r], shift[i, r], part[i, r]
        new = buf[r, :L] * (1 - q)[:, None]
        new += view[r, L - s] * (q * (1 - f))[:, None]
        new += view[r, L - s - 1] * (q * f)[:, None]
        buf[r, :L] = new
        buf[r, L:] = new
    return buf[:, :L].astype(float)


def combine(dists: list[Distribution], lattice: int = TOTAL_LATTICE) -> Distribution:
    """The distribution of the sum of independent parts (re-binned on one lattice, by FFT).

    Every row of a part is re-binned, so deals a part kept apart are smeared on the sum's step
    again: the total's range comes from `group_distributions` over every deal at once instead.
    """
    if len(dists) == 1:
        return dists[0]
    means = np.array([d.mean for d in dists])
    var = np.array([float(np.sum((d.values - d.mean) ** 2 * d.pmf)) for d in dists])
    lows = np.array([d.values[d.pmf > 0].min() if (d.pmf > 0).any() else 0.0 for d in dists])
    highs = np.array([d.values[d.pmf > 0].max() if (d.pmf > 0).any() else 0.0 for d in dists])
    spread = highs - lows
    lo, hi = _window(
        np.array([means.sum()]),
        np.array([var.sum()]),
        np.array([spread.max()]),
        np.array([lows.sum()]),
        np.array([highs.sum()]),
    )
    width = float(hi[0] - lo[0])
    if width <= 0:
        return Distribution.lattice(np.array([float(means.sum())]), np.array([1.0]), 0.0)
    L = lattice
    step = width / (L - 2)
    base = int(np.floor(lo[0] / step))
    rows = np.concatenate([np.full(d.values.size, i) for i, d in enumerate(dists)])
    measure = _rebin(
        np.concatenate([d.values.ravel() for d in dists]),
        np.concatenate([d.pmf.ravel() for d in dists]),
        step,
        L,
        rows,
        len(dists),
    )
    spectrum = np.prod(np.fft.rfft(measure, axis=1), axis=0)
    dense = np.clip(np.fft.irfft(spectrum, n=L), 0.0, None)
    dense /= max(dense.sum(), 1e-300)
    idx = base + np.arange(L)
    return Distribution.lattice(idx * step, dense[idx % L], step)
