"""How exports write yes and no: the words a lead label, a status or a flag column is read by
as 1 or 0 as it is. Its own module so that the import (`lead_rows`) and the draft's word lists
(`draft_names`, `lead_outcomes`) can both read it without importing each other."""

from __future__ import annotations

#: A label's values read as converted (1) or not (0) as they are, compared casefolded: digits,
#: true/false, yes/no and their letters, and yes/no in the languages exports come in.
YES_NO_LABELS = {
    **{"1": 1, "0": 0, "1.0": 1, "0.0": 0, "true": 1, "false": 0, "t": 1, "f": 0},
    **{"yes": 1, "no": 0, "y": 1, "n": 0},
    **{"ja": 1, "nein": 0, "wahr": 1, "falsch": 0},  # German
    **{"oui": 1, "non": 0, "vrai": 1, "faux": 0},  # French
    **{"si": 1, "sí": 1, "sì": 1, "verdadero": 1, "falso": 0, "vero": 1},  # Spanish, Italian
    **{"sim": 1, "não": 0, "nao": 0},  # Portuguese
}
#: A ticked box as exports write it where an unticked one is blank ("x", "✓"): yes where it is
#: a column's one value beside blanks.
MARKS = frozenset({"x", "✓", "✔", "*"})
