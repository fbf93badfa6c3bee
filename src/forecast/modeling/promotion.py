"""The promotion gate: may a candidate model become champion?

One rule for every model kind: the candidate must beat every baseline and the champion (when
there is one) on every metric that counts, each by its margin. A scorer run says which baseline
is its naive rival (what serves without a model: the base rate, the per-stage win rate); the
CRM-style baselines beside it (`peers`) must then not beat the candidate for real: a peer whose
paired gain over the candidate lies wholly above zero on a metric stops the promotion, one ahead
within its noise does not (a model no better than a baseline users could run is no reason to
serve it, but a lead the holdout's noise could give is no reason to serve the base rate instead).
A kind supplies only its `Rule`s: which metrics count, whether higher is better, and the margin
(`rules_for`):

- leads and deals: ROC AUC (higher) and Brier (lower), margins from settings;
- timing: concordance (higher) and the Brier score of P(won within 30/60/90 days) (lower).

Where the run measured the candidate and a rival on the same resampled holdout rows (the paired
bootstrap, `forecast.modeling.bootstrap`), the candidate beats that rival on a rule only when the
lower end of the gain's 95% interval clears the margin, and the reason quotes the gain and its
interval; otherwise (a champion known only by its own holdout's metrics) the point estimates are
compared.

The `Decision` keeps every comparison, so "why was this (not) promoted" is answered by reading
it. Pure: no MLflow here (the registry fetches the metrics and acts on the decision).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from forecast.settings import Settings

Metrics = Mapping[str, float]
#: A peer's lead smaller than this is a tie: the logistic family and the logistic baseline are
#: the same model, their metrics apart by rounding (1e-15) alone.
TIE = 1e-9
#: Per rival, per metric: [gain, 95% low, 95% high] (positive: the candidate is better).
Gains = Mapping[str, Mapping[str, Sequence[float]]]

#: Said where the dataset had no champion to beat (after "promoted to champion" it must not
#: read as if there still were none).
NO_CHAMPION = "no champion before this run: judged against the baselines only"


@dataclass(frozen=True)
class Rule:
    """One metric the gate compares: `metric` is its key, `label` how the reasons name it."""

    metric: str
    label: str
    higher_is_better: bool
    margin: float = 0.0


@dataclass
class Decision:
    """Whether a candidate may become champion, and every comparison that decided it.
    `warnings`: what a user must know before serving it whatever the gate says (a run that kept
    its leak columns: its figures flatter it), said first."""

    promote: bool
    reasons: list[str]
    warnings: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        verdict = "promote" if self.promote else "do not promote"
        return f"{verdict}: " + "; ".join([*self.warnings, *self.reasons])


def scorer_rules(min_auc_gain: float = 0.0, min_brier_gain: float = 0.0) -> tuple[Rule, ...]:
    """What counts for a probability scorer (leads, deals): AUC up and Brier down."""
    return (
        Rule("roc_auc", "AUC", True, min_auc_gain),
        Rule("brier", "Brier", False, min_brier_gain),
    )


TIMING_RULES = (Rule("concordance", "concordance", True), Rule("brier", "Brier", False))


def rules_for(kind: str, settings: Settings) -> tuple[Rule, ...]:
    """The rules of a model kind ("leads", "deals" or "timing")."""
    if kind == "timing":
        return TIMING_RULES
    return scorer_rules(settings.promote_min_auc_gain, settings.promote_min_brier_gain)


def decide(
    candidate: Metrics | None,
    champion: Metrics | None,
    baselines: Mapping[str, Metrics],
    rules: Sequence[Rule],
    *,
    champion_note: str = "",
    gains: Gains | None = None,
    peers: Mapping[str, Metrics] | None = None,
) -> Decision:
    """A candidate wins only if it beats each baseline and the champion on every rule, and no
    peer beats it for real.

    `candidate`, `champion` and each baseline are one scorer's holdout metrics; `champion` is
    None (or empty) when there is no champion yet. `champion_note` says where the champion's
    metrics come from (e.g. "v3, same holdout") and appears in its reason. A missing or NaN
    metric of the candidate loses; one missing on the other side is beaten. `gains` holds the
    paired bootstrap gains over rivals by their key ("champion" for the champion): a rule with a
    gain is won only when its interval's lower end is above the margin. `peers` (CRM-style
    baselines) stop it only where their paired gain over the candidate lies wholly above zero
    (its interval's upper end below zero), or, without a paired gain, where their point estimate
    is better.
    """
    if not candidate:
        return Decision(False, ["the run has no model metrics"])
    rivals = {name: (name, theirs) for name, theirs in baselines.items()}
    if champion:
        rivals["champion"] = (
            "champion" + (f" ({champion_note})" if champion_note else ""),
            champion,
        )
    reasons, ok = [], True
    for key, (name, theirs) in rivals.items():
        paired = (gains or {}).get(key) or {}
        wins, said = [], []
        for r in rules:
            mine, other = candidate.get(r.metric), theirs.get(r.metric)
            interval = paired.get(r.metric)
            if interval is not None and _usable(interval):
                wins.append(_mine_ok(mine) and interval[1] > r.margin)
                said.append(_compare_paired(mine, other, interval, r))
            else:
                wins.append(_beats(mine, other, r))
                said.append(_compare(mine, other, r))
        verdict = "beats" if all(wins) else "does not beat"
        reasons.append(f"{verdict} {name}: " + ", ".join(said))
        ok = ok and all(wins)
    for key, theirs in (peers or {}).items():
        paired = (gains or {}).get(key) or {}
        losses, said = [], []
        for rule in rules:
            r = replace(rule, margin=0.0)  # a peer is weighed on the metric alone
            mine, other = candidate.get(r.metric), theirs.get(r.metric)
            interval = paired.get(r.metric)
            if interval is not None and _usable(interval):
                losses.append(not _mine_ok(mine) or interval[2] < -TIE)
                said.append(_compare_paired(mine, other, interval, r))
            else:
                losses.append(not _beats(mine, other, replace(r, margin=-TIE)))
                said.append(_compare(mine, other, r))
        verdict = "is beaten by" if any(losses) else "is not beaten by"
        reasons.append(f"{verdict} {key}: " + ", ".join(said))
        ok = ok and not any(losses)
    if not champion:
        reasons.append(NO_CHAMPION)
    return Decision(ok, reasons)


def baselines_in(metrics: Mapping[str, Metrics]) -> dict[str, Metrics]:
    """The baselines of a run's metrics ({"model": ..., "<baseline>": ..., "champion": ...})."""
    return {k: v for k, v in metrics.items() if k not in ("model", "champion")}


def _beats(mine: float | None, theirs: float | None, rule: Rule) -> bool:
    if mine is None or math.isnan(mine):
        return False
    if theirs is None or math.isnan(theirs):
        return True
    if rule.higher_is_better:
        return mine > theirs + rule.margin
    return mine < theirs - rule.margin


def _usable(interval: Sequence[float]) -> bool:
    return len(interval) == 3 and not any(math.isnan(v) for v in interval)


def _mine_ok(mine: float | None) -> bool:
    return mine is not None and not math.isnan(mine)


def _compare_paired(
    mine: float | None, theirs: float | None, interval: Sequence[float], rule: Rule
) -> str:
    gain, low, high = interval
    text = (
        f"{rule.label} {_fmt(mine)} vs {_fmt(theirs)} "
        f"(gain {gain:+.4f}, 95% CI {low:+.4f} to {high:+.4f}"
    )
    return text + (f"; needs the low end above {rule.margin:.4f})" if rule.margin else ")")


def _compare(mine: float | None, theirs: float | None, rule: Rule) -> str:
    text = f"{rule.label} {_fmt(mine)} vs {_fmt(theirs)}"
    if rule.margin:
        text += f" (needs {'+' if rule.higher_is_better else '-'}{rule.margin:.4f})"
    return text


def _fmt(v: float | None) -> str:
    return "n/a" if v is None or math.isnan(v) else f"{v:.4f}"


# --- one call per model kind, as the fitting modules and tests use them -----------------------


def decide_promotion(
    metrics: Mapping[str, Metrics],
    champion: Metrics | None,
    *,
    min_auc_gain: float = 0.0,
    min_brier_gain: float = 0.0,
    champion_note: str = "",
) -> Decision:
    """`decide` for a scorer run's metrics; "champion" in `metrics` wins over `champion`."""
    return decide(
        metrics.get("model"),
        metrics.get("champion") or champion,
        baselines_in(metrics),
        scorer_rules(min_auc_gain, min_brier_gain),
        champion_note=champion_note,
    )


def decide_timing_promotion(
    metrics: Mapping[str, Metrics],
    champion: Metrics | None = None,
    *,
    champion_note: str = "",
) -> Decision:
    """`decide` for a timing run's metrics; "champion" in `metrics` wins over `champion`."""
    return decide(
        metrics.get("model"),
        metrics.get("champion") or champion,
        baselines_in(metrics),
        TIMING_RULES,
        champion_note=champion_note,
    )
