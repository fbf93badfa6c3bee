"""A funnel read off an export that keeps each closed deal's last stage beside its status
(Pipedrive's "Stage" and "Status"): the open stages' order and, where the export holds no
probabilities, each stage's chance to be won, for the draft to offer."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from forecast.data.dataset_names import pipeline_dataset
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


def pipeline_column(sample: pd.DataFrame, stage: str | None) -> str | None:
    """The export's column naming each deal's pipeline, if it has one."""
    for column in sample.columns:
        if str(column) != stage and loose_key(str(column)) in PIPELINE_NAMES:
            return str(column)
    return None


@dataclass(frozen=True)
class Pipelines:
    """An export holding the deals of several pipelines, each with a funnel of its own (a
    reactivation pipeline starts at "Cold"): a draft keeps the biggest one's deals
    (`keep_rows`), so its stages are one funnel, and says how to import the others."""

    column: str
    counts: pd.Series  # deals per pipeline in the whole file, most first
    kept: str  # the biggest pipeline the draft's sample of rows holds

    @classmethod
    def of(cls, column: str, counts: pd.Series, sample: pd.DataFrame) -> Pipelines | None:
        counts = counts[counts.index.astype("str").str.strip() != ""]
        seen = set(sample[column].dropna().astype("str").str.strip())
        kept = next((str(name) for name in counts.index if str(name) in seen), None)
        return cls(column, counts, kept) if len(counts) > 1 and kept is not None else None

    def rows(self, frame: pd.DataFrame) -> pd.Series:
        """Which of the frame's rows are the kept pipeline's (as the import matches them)."""
        text = frame[self.column].astype("str").str.strip().str.casefold()
        return frame[self.column].notna() & (text == self.kept.strip().casefold())

    def dataset(self, name: str) -> str:
        """The dataset's name: the file's (`name`), then the kept pipeline's."""
        return pipeline_dataset(name, self.kept)

    def lines(self) -> list[str]:
        return [
            "keep_rows:   # one pipeline's deals: its funnel alone (see the checks)",
            f"  {quoted(self.column)}: [{quoted(self.kept)}]",
        ]

    @property
    def check(self) -> str:
        shown = ", ".join(f"{name!r} ({int(n):,})" for name, n in self.counts.head(4).items())
        more = f" and {len(self.counts) - 4} more" if len(self.counts) > 4 else ""
        return (
            f"{self.column!r} holds {len(self.counts)} pipelines ({shown}{more}), each a funnel "
            f"of its own: this draft keeps {self.kept!r} (keep_rows) and drafts its stages; for "
            "another, copy the mapping with that pipeline under keep_rows, a dataset name of its "
            "own, and its stages (or draft it from a file of its deals alone)"
        )
