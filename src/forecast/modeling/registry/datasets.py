"""One registered model per kind and dataset: finding them, and choosing one when none is named.

A registered model `<base>.<dataset>` (see `client.model_name`) carries its dataset's exact name
in the tag `dataset`; that tag, not the name, says which dataset a model belongs to. A registered
model without the tag (an earlier install's single `lead-qualification`, say) belongs to no
dataset and is ignored here: nothing reads, serves or compares against it, and the next
`forecast train` registers beside it under the dataset's own name.
"""

from __future__ import annotations

from typing import Any

from forecast.errors import InvalidInput, NotFound
from forecast.modeling.registry.client import CHAMPION, DATASET_TAG, _kind, model_name

_PAGE = 1000


def registered(client: Any, kind: str) -> dict[str, Any]:
    """{dataset: its registered model (with tags and aliases)} for every dataset that has a
    model of `kind`, sorted by dataset."""
    base = _kind(kind).model
    found: dict[str, Any] = {}
    token = None
    while True:
        page = client.search_registered_models(
            filter_string=f"name LIKE '{base}.%'", max_results=_PAGE, page_token=token
        )
        for rm in page:
            dataset = (rm.tags or {}).get(DATASET_TAG)
            if dataset and model_name(kind, dataset) == rm.name:
                found[dataset] = rm
        token = getattr(page, "token", None)
        if not token:
            return dict(sorted(found.items()))


def with_champion(models: dict[str, Any]) -> list[str]:
    """The datasets among `registered(...)` whose model has a champion."""
    return [d for d, rm in models.items() if CHAMPION in (getattr(rm, "aliases", None) or {})]


def only_one(kind: str, datasets: list[str], what: str = "model") -> str | None:
    """The one dataset of `datasets`, None when there is none; several: which to choose."""
    if len(datasets) > 1:
        raise InvalidInput(
            f"dataset: {kind} {what}s are registered for several datasets {datasets}: "
            "pass --dataset to choose one"
        )
    return datasets[0] if datasets else None


def resolve(client: Any, kind: str, dataset: str | None) -> tuple[str, str]:
    """(dataset, registered model name) of the `kind` model to act on: `dataset`'s, or the only
    dataset's when None. Nothing registered: `NotFound` saying how to get a model."""
    if dataset is None:
        dataset = only_one(kind, list(registered(client, kind)))
        if dataset is None:
            how = "forecast timing --data DATASET" if kind == "timing" else f"forecast train {kind}"
            raise NotFound(f"no {kind} model registered yet: run `{how}`")
    return dataset, model_name(kind, dataset)
