"""A deal export that says a loss only by archiving the deal: Odoo keeps a lost opportunity in
the stage it was lost from, archived ("Active" False) at probability 0, and only a won deal has
a stage of its own ("Won"). The draft reads the loss from the archive flag, as it reads
Pipedrive's from its "Status": `stage: {first_of: [Active, Stage]}`, an active deal's flag
blank so that its stage is read."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from forecast.data.draft_names import LOST_WORDS, WON_WORDS, matched
from forecast.data.draft_stages import probabilities, quoted, says
from forecast.data.yes_no import YES_NO_LABELS

#: The names of a flag that is false for an archived record.
ACTIVE_NAMES = ["active", "isactive", "aktiv", "actif", "activo"]
#: The stage a drafted archived loss is named (the file has no stage of its own for it).
LOST = "Lost"


@dataclass(frozen=True)
class ArchivedLoss:
    """The archive flag a draft reads lost deals from, and its values as the file writes them."""

    column: str
    active: list[str]
    archived: list[str]

    def stage_line(self, stage: str) -> str:
        """The `stage:` line: the flag first (blank for an active deal), then the stage."""
        return f"  stage: {{first_of: [{quoted(self.column)}, {quoted(stage)}]}}"

    def fixes(self) -> list[str]:
        """The `value_fixes:` lines: an archived deal is lost, an active one's stage is read."""
        lines = [f"value_fixes:   # an archived deal ({self.column!r} false) is lost: check"]
        lines.append(f"  {quoted(self.column)}:")
        lines += [f"    {quoted(v)}: {LOST}" for v in self.archived]
        lines += [f'    {quoted(v)}: ""' for v in self.active]
        return lines


def archived_loss(sample: pd.DataFrame, columns: dict[str, str]) -> ArchivedLoss | None:
    """The archive flag lost deals are read from, where the stage values name a win but no
    loss, a yes/no column named "Active" holds both values, and every archived deal that has
    a probability is at 0 (an archived deal at another probability is not a loss: none)."""
    stage = columns.get("stage")
    found = matched([str(c) for c in sample.columns], {"active": ACTIVE_NAMES}).get("active")
    if stage is None or found is None or found in columns.values():
        return None
    stages = sample[stage].dropna().astype("str").str.strip().unique()
    if any(says(v, LOST_WORDS) for v in stages) or not any(says(v, WON_WORDS) for v in stages):
        return None
    text = sample[found].astype("str").str.strip()
    said = text.str.casefold().map(YES_NO_LABELS)
    if said.isna().any() or set(said) != {0, 1}:
        return None
    if "rep_probability" in columns:
        at = probabilities(sample[columns["rep_probability"]])[(said == 0).to_numpy()].dropna()
        if not bool((at == 0).all()):
            return None
    return ArchivedLoss(
        found,
        sorted(set(text[said == 1])),
        sorted(set(text[said == 0])),
    )


def read_archived(
    counts: pd.Series, values: pd.Series, sample: pd.DataFrame, lost: ArchivedLoss
) -> tuple[pd.Series, pd.Series]:
    """The stage counts and sampled stage values as the import will read them: an archived
    deal is lost, whatever stage it was archived in."""
    archived = sample[lost.column].astype("str").str.strip().isin(lost.archived).to_numpy()
    counts = pd.concat([pd.Series({LOST: int(archived.sum())}), counts])
    return counts, values.where(~archived, LOST)
