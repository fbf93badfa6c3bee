"""The query parameters that name one group (a team, a rep, a product, a region).

A name is matched as the user means it, without the spaces around it: a link or a form that
sends `team=%20East%20` asks for East, not for a team no deal names. Inner spaces stay ("Team
Costa"), and so does the case: a misspelt name gets the 404 with the likely one meant.
"""

from __future__ import annotations

from pydantic import AfterValidator


def trimmed(name: str | None) -> str | None:
    """`name` without the spaces around it; only spaces is no name (a 422 naming the field)."""
    if name is None:
        return None
    kept = name.strip()
    if name and not kept:
        raise ValueError("a name, not only spaces")
    return kept


def trimmed_or_none(name: str | None) -> str | None:
    """A page's parameter: blank (or only spaces) means its default."""
    return (name or "").strip() or None


#: Added to a read route's `team` or `group` query parameter: the name matched once trimmed.
Trimmed = AfterValidator(trimmed)
