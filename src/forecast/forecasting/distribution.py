"""The exact distribution of a sum of independent deal outcomes, on a lattice: numpy only.

Each group's total is convolved on a lattice of 512 points spanning the interval that holds all
but 1e-12 of its probability (Bernstein's bound). A deal's amount falls between two lattice
points and its mass is split between them in proportion, which keeps every mean exact. Groups are
convolved deal by deal in cells of up to 256 deals (vectorised across cells), cells are joined by
FFT, new deals enter through the compound-Poisson characteristic function, and the total is
convolved the same way from every deal at once on a 4,096-point lattice, so its range and chance
of target are the same whatever the grouping (the groups' means add up to it). It is exact up to
the lattice step and deterministic (no seed). Forecast drift widens a distribution through a
mean-one log-normal factor (`Distribution.widened`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.special import ndtri

LATTICE = 512
GROUP_LATTICE = 2048  # per group (512 when there are many groups)
TOTAL_LATTICE = 4096
CELL_DEALS = 256
_TAIL_LOG = math.log(2 / 1e-12)  # Bernstein: mass outside the window below 1e-12


@lru_cache
def _normal_quantiles(nodes: int) -> np.ndarray:
    """Standard normal quantiles at the midpoints of `nodes` equal-probability slices."""
    return ndtri((np.arange(nodes) + 0.5) / nodes)


# --- the distribution ----------------------------------------------------------------------------


@dataclass
class Distribution:
    """A distribution on an ascending lattice of values."""

    values: np.ndarray
    pmf: np.ndarray
    step: float

    @property
    def mean(self) -> float:
        return float(np.dot(self.values, self.pmf))

    @property
    def cum(self) -> np.ndarray:
        """P(value ≤ values[j]) (computed once)."""
        if not hasattr(self, "_cum"):
            self._cum = np.cumsum(self.pmf)
        return self._cum

    def quantile(self, q: float) -> float:
        cdf = self.cum
        j = min(int(np.searchsorted(cdf, q * cdf[-1] - 1e-12)), len(cdf) - 1)
        return float(self.values[j])

    def cdf(self, x: np.ndarray) -> np.ndarray:
        """P(value ≤ x) at each x. The values are evenly spaced, so this is index arithmetic."""
        cum = np.concatenate([[0.0], self.cum])
        if self.step <= 0 or len(self.values) < 2:
            return cum[np.searchsorted(self.values, x, side="right")]
        j = np.floor((np.asarray(x) - self.values[0]) / self.step + 1e-9).astype(np.int64)
        return cum[np.clip(j, -1, len(self.values) - 1) + 1]

    def scaled(self, sigma: float, nodes: int = 16, size: int = 512) -> Distribution:
        """The distribution of F·X, F log-normal with mean 1 and log sd `sigma` (drift)."""
        z = _normal_quantiles(nodes)
        factors = np.exp(sigma * z - sigma**2 / 2)
        lo = float(self.values[0]) * factors.min()
        hi = float(self.values[-1]) * factors.max()
        if hi <= lo:
            return self
        grid = np.linspace(lo, hi, size)
        cdf = self.cdf(grid[None, :] / factors[:, None]).mean(axis=0)
        pmf = np.diff(np.concatenate([[0.0], cdf]))
        pmf[-1] += 1.0 - pmf.sum()
        return Distribution(grid, np.clip(pmf, 0.0, None), float(grid[1] - grid[0]))

    def prob_at_least(self, x: float) -> float:
        """P(value ≥ x), the lattice read linearly between its points."""
        if self.step <= 0:
            return float(self.pmf[self.values >= x].sum())
        weight = np.clip((self.values - x) / self.step + 1.0, 0.0, 1.0)
        return float(np.clip(np.dot(weight, self.pmf), 0.0, 1.0))


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
    """
    if group_lattice is None:  # a group's window spans ~16 sd: 512 points still resolve it
        group_lattice = GROUP_LATTICE if n_groups <= 64 else GROUP_LATTICE // 4
    a = np.asarray(amount, dtype=float)
    p = np.clip(np.asarray(prob, dtype=float), 0.0, 1.0)
    g = np.asarray(group, dtype=np.int64)
    keep = (p > 0) & (a > 0)
    a, p, g = a[keep], p[keep], g[keep]
    order = np.lexsort((a, g))
    a, p, g = a[order], p[order], g[order]

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
    nr = na = ng = None
    if new_rate is not None and len(new_rate):
        nr = np.asarray(new_rate, dtype=float)
        na = np.asarray(new_amount, dtype=float)
        ng = np.asarray(new_group, dtype=np.int64)
        ok = (nr > 0) & (na > 0)
        nr, na, ng = nr[ok], na[ok], ng[ok]
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
    if nr is not None and na is not None and ng is not None and len(nr):
        rate = _rebin(na, nr, step[ng], group_lattice, ng, n_groups)
        spectrum *= np.exp(np.fft.rfft(rate, axis=1) - rate.sum(1, keepdims=True))
    dense = np.clip(np.fft.irfft(spectrum, n=group_lattice, axis=1), 0.0, None)
    dense /= np.maximum(dense.sum(1, keepdims=True), 1e-300)
    out = []
    for i in range(n_groups):
        if width[i] <= 0:
            out.append(Distribution(np.array([0.0]), np.array([1.0]), 0.0))
            continue
        idx_g = base[i] + np.arange(group_lattice)
        out.append(Distribution(idx_g * step[i], dense[i, idx_g % group_lattice], float(step[i])))
    return out


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
    """The distribution of the sum of independent parts (re-binned on one lattice, by FFT)."""
    if len(dists) == 1:
        return dists[0]
    means = np.array([d.mean for d in dists])
    var = np.array([float(np.dot((d.values - d.mean) ** 2, d.pmf)) for d in dists])
    lows = np.array([d.values[d.pmf > 0].min() if (d.pmf > 0).any() else 0.0 for d in dists])
    highs = np.array([d.values[d.pmf > 0].max() if (d.pmf > 0).any() else 0.0 for d in dists])
    spread = np.array([h - lo for h, lo in zip(highs, lows, strict=True)])
    lo, hi = _window(
        np.array([means.sum()]),
        np.array([var.sum()]),
        np.array([spread.max()]),
        np.array([lows.sum()]),
        np.array([highs.sum()]),
    )
    width = float(hi[0] - lo[0])
    if width <= 0:
        return Distribution(np.array([float(means.sum())]), np.array([1.0]), 0.0)
    L = lattice
    step = width / (L - 2)
    base = int(np.floor(lo[0] / step))
    rows = np.concatenate([np.full(len(d.values), i) for i, d in enumerate(dists)])
    measure = _rebin(
        np.concatenate([d.values for d in dists]),
        np.concatenate([d.pmf for d in dists]),
        step,
        L,
        rows,
        len(dists),
    )
    spectrum = np.prod(np.fft.rfft(measure, axis=1), axis=0)
    dense = np.clip(np.fft.irfft(spectrum, n=L), 0.0, None)
    dense /= max(dense.sum(), 1e-300)
    idx = base + np.arange(L)
    return Distribution(idx * step, dense[idx % L], step)
