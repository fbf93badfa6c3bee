"""The query parameters that name one group (a team, a rep, a product, a region).

A name is matched as the import read the deals' names (`name_text.clean_name`): a link or a
form that sends `team=%20East%20` asks for East, not for a team no deal names, and "Ana  García"
or an NFD "Zoë" for the one the deals name. The case stays: a misspelt name gets the 404 with
the likely one meant.
"""

from __future__ import annotations

from pydantic import AfterValidator

from forecast.data.name_text import clean_name


def group_name(name: str | None) -> str | None:
    """`name` as the import reads names; only spaces is no name (a 422 naming the field)."""
    if name is None:
        return None
    kept = clean_name(name)
    if name and not kept:
        raise ValueError("a name, not only spaces")
    return kept


def group_name_or_none(name: str | None) -> str | None:
    """A page's parameter: blank (or only spaces) means its default."""
    return clean_name(name or "") or None


#: On a read route's `team` or `group` query parameter: the name as the import reads names.
CleanedGroup = AfterValidator(group_name)
