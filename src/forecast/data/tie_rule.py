"""The one rule that breaks a tie between two states of one deal at one `updated_at`.

Two pushes (or an export and a push) may say different things of a deal at the same time. The
store keeps, whatever their arrival order:

- the later stage of the funnel, with its status and close (as `forecast.data.stage_log` reads
  the stage at one instant: the later stage comes last);
- the larger content for the other fields: the larger digest of the tracked fields (those the
  field history keeps), then of the deal's `attributes` (which have no history).

The deal's state (`store.upsert_opportunities`) and its field history
(`store.append_field_history`) both judge by these keys, so the state's values at its
`updated_at` are the field history's, and KPIs (read from the state) and forecasts (read from
the histories) agree. A state's key is `RR:FFFF…:AAAA…` (stage rank, fields, attributes).
"""

from __future__ import annotations

import hashlib
import json

import pandas as pd

from forecast.data.stages import StageSet
from forecast.data.store_reads import _typed
from forecast.data.tables import TRACKED_FIELDS, field_history

#: Where a state key's content (fields, then attributes) starts: after `RR:`.
CONTENT_AT = 4
#: A state key's length (`RR:` + 40 + `:` + 16). A key of another length was made by an older
#: rule (a digest of the whole row): its stage rank still counts, its content loses the tie.
KEY_LENGTH = 60


def row_keys(frame: pd.DataFrame) -> pd.Series:
    """One comparable text per row (missing values as one token, numbers at full precision)."""
    key = pd.Series("", index=frame.index)
    for col in frame.columns:
        values = frame[col]
        text = values.astype("str").where(values.notna(), "\x00")
        key = key + "\x1f" + text
    return key


def fields_keys(frame: pd.DataFrame) -> pd.Series:
    """Per row, the digest of its tracked fields, typed as the field history stores them (so an
    observation read back from the store has the key it had when written)."""
    fields = pd.DataFrame(
        {n: frame[n].to_numpy() if n in frame else None for n in TRACKED_FIELDS},
        index=frame.index,
    )
    return _digests(row_keys(_typed(fields, field_history)))


def state_keys(frame: pd.DataFrame, stages: StageSet) -> pd.Series:
    """Per deal row: its stage's place in the funnel, its fields' digest, its attributes'."""
    rank = frame["stage"].map({s: i for i, s in enumerate(stages.all_stages)}).fillna(99)
    if "attributes" in frame:  # one text per content, whatever order the keys came in
        attrs = [json.dumps(a, sort_keys=True, default=str) for a in frame["attributes"]]
    else:
        attrs = ["null"] * len(frame)
    attributes = _digests(pd.Series(attrs, index=frame.index)).str[:16]
    return rank.astype("int64").map("{:02d}".format) + ":" + fields_keys(frame) + ":" + attributes


def _digests(texts: pd.Series) -> pd.Series:
    return texts.map(lambda text: hashlib.sha1(text.encode()).hexdigest())
