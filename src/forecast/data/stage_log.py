"""A deal's stage history, derived from the set of its stage observations.

The store keeps every stage observation a push or an import made: entries (the deal entered a
stage then: a dated stage, an outcome at its close date, a history file's row) and sightings
(`seen_only`: the CRM said the deal was in a stage then). The history is a function of that
set alone, so the same pushes in any order, repeated or not, give the same history:

- observations are ordered by time; at one instant, the later stage of the funnel comes last
  (an outcome after any open stage), so the stage at that instant does not depend on arrival;
- a deal's earliest observation, when it is a sighting, dates from the deal's creation (what
  was first seen is what it was, as for the deal's other fields);
- consecutive observations of one stage are one stay, entered at the first of them;
- a stay is `seen_only` unless the record of entries shows the deal moving into it: its first
  observation is an entry and the stay before it (if any) holds one. Across a move seen only
  (a sighting on either side) the deal may have passed through other stages unseen, so the
  funnel reads no skip there (`forecast.kpis`); the other views read stages and times only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.data.stages import StageSet

COLUMNS = ("opportunity_id", "stage", "entered_at", "seen_only")


def derive(observations: pd.DataFrame, created_at: pd.Series, stages: StageSet) -> pd.DataFrame:
    """The stage history (opportunity_id, stage, entered_at, seen_only; by deal, oldest first).

    `observations`: opportunity_id, stage, entered_at, seen_only. `created_at`: each deal's
    creation date, indexed by id (a deal missing from it keeps its first sighting's time).
    """
    if observations.empty:
        return observations.reindex(columns=list(COLUMNS))
    rank = {stage: i for i, stage in enumerate(stages.all_stages)}
    obs = observations.assign(
        _rank=observations["stage"].map(rank).fillna(len(rank)).astype("int64")
    ).sort_values(["opportunity_id", "entered_at", "_rank", "stage"], kind="stable")
    deal = obs["opportunity_id"].to_numpy(dtype=object)
    first = np.ones(len(obs), dtype=bool)
    first[1:] = deal[1:] != deal[:-1]
    stage = obs["stage"].to_numpy(dtype=object)
    repeat = ~first
    repeat[1:] &= stage[1:] == stage[:-1]

    entered = obs["entered_at"].to_numpy("datetime64[us]").copy()
    created = pd.to_datetime(created_at.reindex(obs["opportunity_id"]).to_numpy())
    created = np.asarray(created, dtype="datetime64[us]")
    sighting = obs["seen_only"].to_numpy(dtype=bool)
    since_creation = first & sighting & (created < entered)
    entered[since_creation] = created[since_creation]

    starts = np.flatnonzero(~repeat)  # each stay's first observation
    holds_entry = np.maximum.reduceat(~sighting, starts)
    moved_unseen = sighting[starts].copy()
    moved_unseen[1:] |= ~first[starts[1:]] & ~holds_entry[:-1]
    out = pd.DataFrame(
        {"opportunity_id": deal, "stage": stage, "entered_at": entered},
    )[~repeat]
    out["seen_only"] = moved_unseen
    return out.reset_index(drop=True)
