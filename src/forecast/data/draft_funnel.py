"""A funnel read off an export that keeps each closed deal's last stage beside its status
(Pipedrive's "Stage" and "Status"): the open stages' order and, where the export holds no
probabilities, each stage's chance to be won, for the draft to offer."""

from __future__ import annotations

import pandas as pd

from forecast.data.draft_names import WON_WORDS
from forecast.data.draft_stages import ESTIMATED, is_outcome, quoted, says
from forecast.data.mapping import loose_key


def _closed_and_won(sample: pd.DataFrame, status: str) -> tuple[pd.Series, pd.Series]:
    """Per sampled deal, whether its status says it closed, and whether it says won."""
    said = sample[status].astype("str").str.strip()
    return said.map(is_outcome).astype(bool), said.map(lambda v: says(v, WON_WORDS)).astype(bool)


def by_won_share(counts: pd.Series, sample: pd.DataFrame, stage: str, status: str) -> pd.Series:
    """The open stages' counts in funnel order as the closed deals show it where an export keeps
    a closed deal's last stage beside its status (Pipedrive): a deal that got further was won
    more often, so the stages go by the share of the deals closed from each that were won
    (stages no deal closed from last, by count)."""
    closed, won = _closed_and_won(sample, status)
    stages = sample[stage].astype("str").str.strip()
    share = won[closed].groupby(stages[closed]).mean()
    order = sorted(counts.index, key=lambda v: (str(v) not in share, share.get(str(v), 0.0)))
    return counts[order]


#: The fewest closed deals that reached a stage for its estimated probability.
MIN_REACHED = 5


def reached_probabilities(
    sample: pd.DataFrame, stage: str, status: str, order: list[str]
) -> list[str]:
    """A `stage_probabilities:` block where the export has none but keeps a closed deal's last
    stage (Pipedrive): per open stage in funnel order, the share won of the closed deals that
    reached it (closed from it or a later stage), as the funnel counts conversion. A flat
    export's model has no stage history to rank stages by; this is what its deals say."""
    closed, won = (flags.to_numpy() for flags in _closed_and_won(sample, status))
    rank = sample[stage].astype("str").str.strip().map({v: i for i, v in enumerate(order)})
    lines = []
    for i, value in enumerate(order):
        reached = closed & (rank >= i).to_numpy()
        if int(reached.sum()) >= MIN_REACHED:
            lines.append(f"  {quoted(value)}: {round(float(won[reached].mean()), 4)}")
    return (
        [ESTIMATED, "stage_probabilities:   # estimated from the closed deals: check", *lines]
        if lines
        else []
    )


#: A column naming the pipeline a deal is in (GoHighLevel, HubSpot, Pipedrive exports).
PIPELINE_NAMES = ("pipeline", "pipelinename", "dealpipeline", "salespipeline")


def several_pipelines(sample: pd.DataFrame, stage: str | None) -> list[str]:
    """Said where the deals are in more than one pipeline: each pipeline has a funnel of its
    own (a reactivation pipeline starts at "Cold"), which the draft's one funnel mixes."""
    for column in sample.columns:
        if str(column) == stage or loose_key(str(column)) not in PIPELINE_NAMES:
            continue
        names = sample[column].dropna().astype("str").str.strip()
        counts = names[names != ""].value_counts()
        if len(counts) > 1:
            shown = ", ".join(repr(v) for v in counts.index[:4])
            return [
                f"{column!r} holds {len(counts)} pipelines ({shown}): their stages are drafted as "
                "one funnel; where each has a funnel of its own, import each pipeline's deals "
                "as a dataset of its own (a file per pipeline), or check the funnel order"
            ]
    return []
