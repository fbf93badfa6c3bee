"""The recent cohort's level: how the deals created lately close at each age, against how the
older deals closed at the same ages, and the correction their forecast and that of deals not yet
created take up.

A change in how deals are won often comes with the deals created from some date on (a new
market, a new offer, a new team): the old deals keep their old chances. The time-to-close model
learns it only as those deals' outcomes fill its recency-weighted record, and a deal's win comes
weeks after its creation, so for months it forecasts the new deals at the old rate. The deals
created in the last `recent_days` tell sooner: each is followed from its creation until it
closed or the cut, week by week, and its won and lost closes are counted beside what the model
expected over the same weeks at risk (Σ h·q and Σ h·(1 − q): censoring-aware, like any
observed-over-expected ratio). The older deals, followed from their creation over the same ages
(recency-weighted, as the model's rows are), give the same ratio. The model was fitted on both,
so where it blends them each ratio is pulled toward 1 from its own side: the cohort's level is
the quotient of the two (O/E of the cohort over O/E of the older deals), which the model's deal
attributes and calendar standardise. Where deals are lost more often, it shows in the first
weeks, long before fewer wins do.

Each ratio is shrunk toward 1 by its noise, as the recent level of `TimeToClose` is:
r = 1 + (ρ − 1) · max(0, 1 − v / (ρ − 1)²), the positive-part James–Stein factor, with v the
Poisson variance of the quotient under "no change" (1/E of the cohort + 1/E of the older deals,
counted at their effective size). A steady business, where the cohort differs by chance, keeps
its model.

The ratios multiply the two cause-specific hazards (won: h·q, lost: h·(1 − q)) of deals created
from the cohort's first day on, the pipeline's young deals and the deals not yet created alike:
a proportional-hazards correction, the assumption an observed-over-expected ratio makes. On
those deals the model's own recent level (`TimeToClose.shift_to`, read on the last days' closes
of every deal) is taken out by the share of its gap the cohort's ratio kept: the quotient is
measured against older deals, so a change both see would otherwise be counted twice; a cohort
that says nothing beyond its noise leaves its deals as the model has them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from forecast.timing.logistic import expit


@dataclass(frozen=True)
class CohortLevel:
    """The correction of deals created on or after `since_day` (days since 1970): ratios on the
    won and lost hazards, and the counts they come from: the cohort's observed closes, and the
    closes expected of it at the older deals' level (the model's expectation × their O/E)."""

    since_day: float
    won: float = 1.0
    lost: float = 1.0
    deals: int = 0
    observed_won: float = 0.0
    expected_won: float = 0.0
    observed_lost: float = 0.0
    expected_lost: float = 0.0

    #: How far the cohort's own level stands in for the recent level the model took up
    #: (`TimeToClose.shift_to`, logits `close_shift`, `won_shift`) on the cohort's deals, so the
    #: two are not counted twice: the share of its gap from 1 the cohort's noise left (0: the
    #: cohort says nothing beyond its noise, and its deals keep the model's recent level).
    weight: float = 0.0
    close_shift: float = 0.0
    won_shift: float = 0.0

    @property
    def moved(self) -> bool:
        return self.won != 1.0 or self.lost != 1.0

    def apply(
        self, created_day: np.ndarray, close: np.ndarray, won: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(close hazard, won share) of each row from the model's logits (`close`, `won`), with
        the cohort's level on the rows created on or after `since_day`: the model's recent level
        taken out as far as the cohort's own level stands in for it (`weight`), the cohort's
        ratios on the won and lost hazards put in."""
        mine = created_day >= self.since_day
        if not self.moved or not mine.any():
            return expit(close), expit(won)
        h = expit(close - np.where(mine, self.weight * self.close_shift, 0.0))
        q = expit(won - np.where(mine, self.weight * self.won_shift, 0.0))
        hazard_won = h * q * np.where(mine, self.won, 1.0)
        hazard_lost = h * (1.0 - q) * np.where(mine, self.lost, 1.0)
        total = hazard_won + hazard_lost
        # A hazard cannot pass 1: where the ratios would take it there, both causes shrink alike.
        share = np.divide(hazard_won, total, out=np.zeros_like(total), where=total > 0)
        shifted = (expit(close), expit(won))
        return (
            np.where(mine, np.minimum(total, 1.0), shifted[0]),
            np.where(mine, share, shifted[1]),
        )


Periods = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]


def shrunk_ratio(ratio: float, variance: float) -> float:
    """A ratio shrunk toward 1 by its noise: 1 + (ratio − 1) · `kept(ratio, variance)`."""
    return 1.0 + (ratio - 1.0) * kept(ratio, variance) if math.isfinite(ratio) else 1.0


def kept(ratio: float, variance: float) -> float:
    """The share of a ratio's gap from 1 that its noise leaves: max(0, 1 − variance / (ratio −
    1)²), the positive-part James–Stein factor (see the module docstring)."""
    gap = ratio - 1.0
    if gap == 0 or not math.isfinite(ratio):
        return 0.0
    return max(0.0, 1.0 - variance / gap**2)


def _counts(periods: Periods) -> tuple[float, float, float, float, float]:
    """(observed won, expected won, observed lost, expected lost, effective deal-weeks)."""
    h, q, closed, won, weight = periods
    w = np.ones(len(h)) if weight is None else weight
    n_eff = float(w.sum() ** 2 / max(float((w**2).sum()), 1e-12)) if len(w) else 0.0
    scale = n_eff / float(w.sum()) if len(w) and w.sum() > 0 else 0.0
    return (
        float((w * won).sum()) * scale,
        float((w * h * q).sum()) * scale,
        float((w * (closed & ~won)).sum()) * scale,
        float((w * h * (1.0 - q)).sum()) * scale,
        n_eff,
    )


def _ratio(o_new: float, e_new: float, o_old: float, e_old: float) -> tuple[float, float]:
    """(O/E of the recent cohort) / (O/E of the older ones at the same ages), shrunk by the
    Poisson noise of both (1/E each, in relative terms), and the share of its gap kept; (1, 0)
    where either expected nothing."""
    if e_new <= 0 or e_old <= 0 or o_old <= 0:
        return 1.0, 0.0
    ratio = (o_new / e_new) / (o_old / e_old)
    variance = 1.0 / e_new + 1.0 / e_old
    return shrunk_ratio(ratio, variance), kept(ratio, variance)


def cohort_level(since_day: float, recent: Periods, older: Periods, deals: int) -> CohortLevel:
    """The level of the cohort created from `since_day` from its person-periods (one per deal
    and week at risk from its creation: the model's close hazard `h` and won share `q` there,
    whether the deal closed that week and was won, and a weight) beside the older deals'
    person-periods over the same ages (recency-weighted; counted at their effective size)."""
    if len(recent[0]) == 0 or len(older[0]) == 0:
        return CohortLevel(since_day)
    ow, ew, ol, el, _ = _counts(recent)
    rw, rew, rl, rel, _ = _counts(older)
    (won, keep_won), (lost, keep_lost) = _ratio(ow, ew, rw, rew), _ratio(ol, el, rl, rel)
    return CohortLevel(
        since_day,
        won=won,
        lost=lost,
        weight=max(keep_won, keep_lost),
        deals=deals,
        observed_won=ow,
        expected_won=ew * (rw / rew if rew > 0 and rw > 0 else 1.0),
        observed_lost=ol,
        expected_lost=el * (rl / rel if rel > 0 and rl > 0 else 1.0),
    )
