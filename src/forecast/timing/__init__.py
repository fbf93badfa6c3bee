"""Time to close: when will an open deal close, and will it be won when it does?

The forecast needs, per open deal, P(won AND closed inside [t0, t1)). Win and timing are linked
(in the shared data lost deals close in a median 14 days, won ones in 57), so multiplying a win
probability by an independent "closes in the period" probability is wrong. We model them as
**competing risks in discrete time**:

    h_k = P(closes in bucket k | still open at its start)      (the close hazard)
    q_k = P(won | closes in bucket k)                          (the won share at close)
    P(won in bucket k) = S_k · h_k · q_k,   S_k = Π_{j<k} (1 − h_j)

which is exactly the cause-specific hazard decomposition (h_won = h·q, h_lost = h·(1−q)).
P(won within a window) sums these over the buckets the window covers (pro rata at its edges).

Censoring: each training deal is seen from **landmarks** (its creation, each stage entry and
every `every_days` while open) and followed bucket by bucket until it closes or observation
ends. A deal still open at the end contributes "did not close" for every fully observed bucket
and nothing after: censored, not dropped. A bucket is used only when it ended before the cut,
so a close in a half-observed bucket is never counted (that would bias the hazard upward).
Features are those known at the landmark (stage, age, days in stage, amount, product, team,
rep's and account's past win rates); the stage is frozen at the landmark, which is what a
forecast can know about the future.

Each probability is a logit `T(time cell) + S(deal attributes)`, fitted as two LightGBM boosters
in turn (the time part, then the attribute part with the time part as its offset). The time
cell is (stage, size band, age bin, days-in-stage bin, week of the quarter the bucket falls in):
size because big deals move slower, which a shift of the attribute part alone cannot say; the
week because deals cluster their closes at quarter end. The time part is evaluated once over
every cell into a lookup table and the attribute part is one booster call per deal, so scoring
100,000 deals over a quarter stays well under a second, which a booster evaluated per deal
*and* bucket could not do.

Landmarks weigh one each (weighting a deal by 1 / its number of landmarks would let its future
decide its weight), and observation starts the day before the first close the data records.

Baseline (`StageKaplanMeier`): per stage, the historical close-time distribution by deal age
(Kaplan–Meier with delayed entry, split into won and lost by the Aalen–Johansen estimator),
conditioned on the deal's current age.

As-of rule: `survival_rows` and `pipeline_rows` first cut the data with
`DealHistory.known_before`, so a model fitted at t never sees a stage entry, a close or a field
value recorded at or after t.
"""

from forecast.timing.evaluation import TimingEvaluation, concordance_index, evaluate_timing
from forecast.timing.fitting import TimingResult, fit_timing, train_timing
from forecast.timing.hazard import TimeToClose, window_probabilities
from forecast.timing.kaplan_meier import StageKaplanMeier
from forecast.timing.rows import (
    CENSORED,
    DAY,
    EVENT_LOST,
    EVENT_WON,
    STATIC_FEATURES,
    TIME_FEATURES,
    landmarks,
    pipeline_rows,
    survival_rows,
)

__all__ = [
    "CENSORED",
    "DAY",
    "EVENT_LOST",
    "EVENT_WON",
    "STATIC_FEATURES",
    "TIME_FEATURES",
    "StageKaplanMeier",
    "TimeToClose",
    "TimingEvaluation",
    "TimingResult",
    "concordance_index",
    "evaluate_timing",
    "fit_timing",
    "landmarks",
    "pipeline_rows",
    "survival_rows",
    "train_timing",
    "window_probabilities",
]
