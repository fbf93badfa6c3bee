"""What a served model set was loaded from, so a server notices what changed beside it.

`forecast import`, a CRM push, `forecast train`, `promote` and `rollback` write the store and
the registry from other processes; a server that loaded its models before would go on serving
what it read. `Sources` says what a set was read from: each stored dataset's version (its
`updated_at`, new at every import or push that changes it) and each champion's version.
`current_sources` reads the same now, cheaply (one query of the store's dataset table, one
registry call per kind), and `Sources.differs` says whether a fresh load would serve something
else. `Kept` says, from the same, what of the serving set a reload keeps rather than loads again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Engine, select

from forecast.data import store
from forecast.errors import ModelNotReady
from forecast.modeling import registry
from forecast.modeling.registry.client import visit as registry_visit
from forecast.settings import Settings

if TYPE_CHECKING:  # the set is made of these; `model_set` reads this module
    from forecast.model_set import DealContext, ModelSet, Served

#: The model kinds serving loads (`model_set.LEAD`, `model_set.DEAL`).
KINDS = ("leads", "deals")


@dataclass(frozen=True)
class Sources:
    """Each stored dataset's (name, kind, version) and each champion's (kind, dataset, version);
    `champions` None: the registry could not be read."""

    datasets: frozenset[tuple[str, str, str]]
    champions: frozenset[tuple[str, str, str]] | None

    def differs(self, now: Sources) -> bool:
        """Whether `now` says a set loaded from these is out of date: a dataset imported,
        changed or dropped, or a champion trained, promoted or rolled back (a registry that
        cannot be read now says nothing about champions)."""
        return now.datasets != self.datasets or self.champions_differ(now)

    def champions_differ(self, now: Sources) -> bool:
        """Whether `now` says a champion was trained, promoted or rolled back since (or the
        registry can be read again)."""
        return now.champions is not None and now.champions != self.champions

    def changes(self, now: Sources) -> list[str]:
        """What `now` says changed since, in words (for a log line)."""
        said = [f"dataset '{n}'" for n in sorted({d[0] for d in self.datasets ^ now.datasets})]
        if now.champions is not None and self.champions_differ(now):
            moved = (self.champions or frozenset()) ^ now.champions
            said += [f"the {k} champion of '{d}'" for k, d in sorted({(k, d) for k, d, _ in moved})]
        return said


def current_sources(settings: Settings, engine: Engine) -> Sources:
    """The sources a model-set load would read now, the registry's bounded as a load's are."""
    datasets = stored_versions(engine)
    listed: dict[str, dict[str, str] | None] = {}
    with registry_visit(settings):
        for kind in KINDS:
            try:
                listed[kind] = registry.champion_versions(kind, settings)
            except ModelNotReady:
                listed[kind] = None
    return Sources(datasets, champions_of(listed))


def stored_versions(engine: Engine) -> frozenset[tuple[str, str, str]]:
    """(name, kind, version) of every dataset in the store."""
    table = store.datasets
    with engine.connect() as conn:
        rows = conn.execute(select(table.c.name, table.c.kind, table.c.updated_at)).all()
    return frozenset((str(name), str(kind), str(version)) for name, kind, version in rows)


def champions_of(
    listed: Mapping[str, Mapping[str, str] | None],
) -> frozenset[tuple[str, str, str]] | None:
    """(kind, dataset, version) of each kind's champions listed as {dataset: version}; None when
    one kind's could not be listed."""
    if any(versions is None for versions in listed.values()):
        return None
    return frozenset(
        (kind, dataset, version)
        for kind, versions in listed.items()
        for dataset, version in (versions or {}).items()
    )


#: Marks a listed champion the load could not serve from the registry (a local copy or a
#: fallback stood in): its recorded version then differs from the registry's, and the next
#: check tries it again.
NOT_LOADED = " (not loaded)"


def loaded_champions(
    listed: Mapping[str, Mapping[str, str] | None], served: Mapping[str, Mapping[str, Served]]
) -> frozenset[tuple[str, str, str]] | None:
    """`champions_of(listed)`, each champion the load did not serve from the registry at the
    listed version marked `NOT_LOADED` where something else serves its dataset (a local copy,
    a fallback): a set records what it serves, not what it was offered. A champion whose
    dataset nothing serves (its deals not in the store) waits for the dataset's import."""
    champions = champions_of(listed)
    if champions is None:
        return None

    def as_served(kind: str, dataset: str, version: str) -> str:
        model = served.get(kind, {}).get(dataset)
        if model is None or (model.source == "registry" and model.version == version):
            return version
        return version + NOT_LOADED

    return frozenset((k, d, as_served(k, d, v)) for k, d, v in champions)


class Kept:
    """What a load takes over from the set serving (`previous`), given the store's dataset
    versions now: a model or context is kept only where what it was made from is the same, so
    the set loaded scores as one loaded from scratch would.

    Kept: a champion loaded from the registry at the version the registry names now (a model
    version's artifact never changes), with what was made on it while it served; a dataset's
    deal context and fallback while its version (`updated_at`, new at every import or push
    that changes it) is the one the serving set was loaded from. Nothing from a set not loaded
    from the store (a test's), from a local copy (the registry was away: read again once it
    answers), nor a pinned model (of no dataset)."""

    def __init__(self, previous: ModelSet | None, now: frozenset[tuple[str, str, str]]) -> None:
        """`now`: the store's (name, kind, version) of every dataset, as the load read them."""
        known = previous is not None and previous.sources is not None
        self.previous = previous if known else None
        before = previous.sources.datasets if previous and previous.sources else frozenset()
        self._before = {name: (kind, version) for name, kind, version in before}
        self._now = {name: (kind, version) for name, kind, version in now}

    def unchanged(self, name: str) -> bool:
        """Whether dataset `name` is as it was when the serving set was loaded (a dataset in
        neither is: a champion of a dataset not in the store)."""
        return self.previous is not None and self._before.get(name) == self._now.get(name)

    def champion(self, kind: str, name: str, listed: str | None) -> Served | None:
        """The serving champion of `kind` for `name` when it is the registry's `listed` one."""
        served = self._served(kind, name)
        if served is None or listed is None or served.source != "registry":
            return None
        return served if served.version == listed else None

    def fallback(self, kind: str, name: str) -> Served | None:
        """The serving fallback of `name`, while its dataset did not change."""
        served = self._served(kind, name)
        if served is None or served.source != "fallback" or not self.unchanged(name):
            return None
        return served

    def deal_context(self, name: str) -> DealContext | None:
        """The serving deal context of `name`, while its dataset did not change."""
        if self.previous is None or not self.unchanged(name):
            return None
        return self.previous.deal_contexts.get(name)

    def _served(self, kind: str, name: str) -> Served | None:
        if self.previous is None:
            return None
        served = (self.previous.leads if kind == "leads" else self.previous.deals).get(name)
        return served if served is not None and served.dataset == name else None
