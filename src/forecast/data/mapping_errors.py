"""A mapping's validation errors said as a user fixes them: where, and what (an unknown key
with the keys allowed there)."""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel


def validation_problem(err: Any, model: type[BaseModel]) -> str:
    """One validation error of `model` as `where: what`; an unknown key is named with the
    keys allowed there."""
    loc = [str(p) for p in err["loc"]]
    where = ".".join(loc) or "(top)"
    if err["type"] != "extra_forbidden":
        return f"{where}: {err['msg']}"
    allowed = _keys_at(model, loc[:-1])
    known = f"; allowed here: {', '.join(allowed)}" if allowed else ""
    return f"{where}: unknown key {loc[-1]!r}{known}"


def _keys_at(top: type[BaseModel], loc: list[str]) -> list[str]:
    """The keys the model allows at `loc` (e.g. ['csv'] or ['joins', '0'])."""
    model: Any = top
    for part in loc:
        if part.isdigit():
            continue
        field_ = model.model_fields.get(part)
        if field_ is None:
            return []
        candidates = [field_.annotation, *typing.get_args(field_.annotation)]
        models = [t for t in candidates if isinstance(t, type) and issubclass(t, BaseModel)]
        if not models:
            return []
        model = models[0]
    return list(model.model_fields)
