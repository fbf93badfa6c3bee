"""Loose matching, in two strengths, each written once so everything matching that way agrees.

- `loose`: a value written with other case or spaces around it is the same value ("closed won "
  is the stage "Closed Won", "OPEN" the value fix "Open", "deleted" the skip_rows value
  "Deleted").
- `loose_key`: a name written with other case, spaces, dashes or underscores is the same name
  ("Best_case" is "Best Case"): a column, a field or a feature, where exports vary more.
"""

from __future__ import annotations


def loose(value: object) -> str:
    """`value` as compared loosely: its text, without surrounding spaces, case folded."""
    return str(value).strip().casefold()


def loose_key(value: object) -> str:
    """A name compared ignoring case, spaces, dashes and underscores: "Best_case" → "bestcase"."""
    return "".join(ch for ch in str(value) if ch.isalnum()).casefold()
