"""The models serving holds: each dataset's champion (or its fallback), per kind.

Models are registered and served per dataset and never compared across datasets: a request
names the dataset it scores (or its key does, or the default of its kind), and the set answers
with that dataset's model in one dict look-up (`ModelSet.pick`).

`load_model_set` reads, in one bounded registry visit, which datasets have a champion of each
kind and loads each (from the MLflow registry, or the last local copy when it cannot be
reached), plus what deal features need from the store (each opportunities dataset's stages and
the reps' and accounts' past win rates). Where a dataset has no champion yet, the labelled
fallback scores it instead: the per-stage win rate for deals, the base rate for leads.

A reload passes the set serving (`previous=`) and loads only what changed since
(`model_sources.Kept`): a champion the registry still names at the version served keeps its
loaded model, and with it what was made on it while it served (its trees compiled for batches,
its scoring plans and wordings); a dataset whose version did not change keeps its deal context
and fallback. A CRM pushing to one dataset then costs that dataset's context, not every
champion's download.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from forecast import features as feat
from forecast.data import store
from forecast.data.dataset_options import DatasetOptions
from forecast.data.stages import LOST, WON, StageSet
from forecast.errors import ForecastError, InvalidInput, ModelNotReady, NotFound
from forecast.history import DealHistory, load_deal_history
from forecast.lead_fields import LeadFields
from forecast.model_sources import Kept, Sources, loaded_champions, stored_versions
from forecast.modeling import lead_dates, registry
from forecast.modeling.baselines import StageWinRate, stage_win_rates
from forecast.modeling.deal_fitting import FLAT_STAGE_SHARE
from forecast.modeling.families import family_of
from forecast.modeling.reasons import Wording
from forecast.modeling.registry.client import Visit
from forecast.modeling.registry.client import visit as registry_visit
from forecast.modeling.scorers import Scorer, crm_stage_scorer, select_scorer, undated_scorer
from forecast.modeling.stage_prior import stage_probabilities
from forecast.settings import Settings
from forecast.win_rate_index import WinRateIndex

log = logging.getLogger("forecast.scoring")

LEAD, DEAL = "leads", "deals"
#: The store's kind of dataset each model kind scores.
STORED_KIND = {LEAD: "leads", DEAL: "opportunities"}
#: The setting naming each kind's default dataset (said in messages).
DEFAULT_SETTING = {LEAD: "FORECAST_LEAD_DATASET", DEAL: "FORECAST_DEAL_DATASET"}
#: Each `Served` made in this process gets the next (`Served.serial`).
_SERIALS = itertools.count(1)


@dataclass
class Served:
    """One dataset's model of one kind as served: the scorer and what to say about it."""

    kind: str
    scorer: Scorer
    version: str | None
    source: str  # "registry" | "local copy" | "fallback"
    details: dict[str, Any] = field(default_factory=dict)
    #: The dataset it scores (None: a model pinned by a test or a benchmark, of no dataset).
    dataset: str | None = None
    #: Each fitted model's inputs said in words, made once per model served (`explain`).
    wordings: dict[int, Wording] = field(default_factory=dict, repr=False, compare=False)
    #: A lead model's inputs by name, as a request's fields are matched to them, made on first
    #: use (`scoring.score(..., as_sent=True)`).
    fields: LeadFields | None = field(default=None, init=False, repr=False, compare=False)
    #: The registered model's name, made once: every score says it.
    name: str = field(init=False, repr=False, compare=False)
    #: The lead date inputs the model reads (`lead_dates`), made from `created_at` when scored.
    date_inputs: tuple[str, ...] = field(init=False, repr=False, compare=False)
    #: A lead model's inputs learnt from a column of dates as whether one is given: a value
    #: sent is 1, a blank 0 (`lead_columns.with_set_flags`); none in a model trained before.
    set_inputs: tuple[str, ...] = field(init=False, repr=False, compare=False)
    #: The dataset's own name for a lead's creation date (its mapping's column), read where a
    #: request sends no `created_at`; None: `created_at` only.
    created_column: str | None = None
    #: How the dataset's export writes numbers, (decimal mark, thousands mark or None): a number
    #: sent as text ("22,5", "$1,200,000") is read so (None: "." and no grouping mark).
    numbers: tuple[str, str | None] | None = None
    #: The dataset's own date formats (its mapping's `date_format`), tried after ISO 8601 on a
    #: lead's creation date.
    date_formats: tuple[str, ...] = ()
    #: A number no other `Served` of this process has: what a cache of views keys on to tell a
    #: model kept by a reload from one loaded again (an `id()` is reused once an object is gone).
    serial: int = field(default_factory=lambda: next(_SERIALS), init=False, compare=False)

    def __post_init__(self) -> None:
        model = getattr(self.scorer, "model", None)
        encoder = getattr(model, "encoder_", None)
        self.date_inputs = (
            lead_dates.used_by(list(getattr(encoder, "columns", ())))
            if self.kind == "leads"
            else ()
        )
        self.set_inputs = tuple(getattr(model, "date_set_inputs_", ())) if self.kind == LEAD else ()
        # A model of no dataset (pinned by a test or a benchmark) has its kind's base name.
        self.name = (
            registry.model_name(self.kind, self.dataset)
            if self.dataset
            else registry.MODEL_NAMES.get(self.kind, self.kind)
        )


@dataclass
class DealContext:
    """What a deal's features need beyond the request: the stages and past win rates."""

    dataset: str
    stages: StageSet
    win_rates: feat.WinRates
    history: DealHistory
    #: The newest date in the dataset (`DealHistory.end`), read once: a deal scored as of now
    #: long after it is told so (`deal_inputs.as_of_note`). None: the store holds no dated deal.
    data_end: pd.Timestamp | None = None
    #: The win rates by time, built on the first past date a deal is scored as of.
    _rate_index: WinRateIndex | None = field(default=None, repr=False, compare=False)

    def win_rates_at(self, as_of: object) -> feat.WinRates:
        """The reps' and accounts' win rates as of a past date, from an index of the closes
        made once (`WinRateIndex`), not counted again per request."""
        if self._rate_index is None:
            self._rate_index = WinRateIndex(self.history)
        return self._rate_index.at(as_of)


#: The dict key of a model pinned with no dataset of its own (`ModelSet.lead = ...`).
UNNAMED = ""


class Problem(str):
    """What failed in a load, as text, and the dataset it concerns (None: none in particular),
    so that a key bound to a dataset is told its own dataset's problems only
    (`ModelSet.problems_for`): the text names the dataset, and one client must not learn of
    another's."""

    dataset: str | None

    def __new__(cls, text: str, dataset: str | None = None) -> Problem:
        made = super().__new__(cls, text)
        made.dataset = dataset
        return made


def dataset_of(problem: str) -> str | None:
    """The dataset a problem concerns (None for plain text)."""
    return getattr(problem, "dataset", None)


@dataclass
class ModelSet:
    """The models served, per kind and dataset. `problems` says what failed as the service saw
    it (text that may name the tracking URI, a path, a dataset or a statement); `degraded` says,
    in plain words and without them, what scores worse than it should: a fallback standing in
    for a champion that should serve (the registry unreachable, a registered champion that would
    not load) or a chosen default dataset that cannot be scored. A fallback because nothing was
    trained yet is no degradation.

    `default_lead` / `default_deal` name the dataset a request that names none scores; `lead`,
    `deal` and `deal_context` are the default dataset's (what the dashboard, monitoring and
    health read), settable to pin a model there."""

    leads: dict[str, Served] = field(default_factory=dict)
    deals: dict[str, Served] = field(default_factory=dict)
    deal_contexts: dict[str, DealContext] = field(default_factory=dict)
    loaded_at: datetime = field(default_factory=store.utcnow)
    problems: list[str] = field(default_factory=list)
    degraded: list[str] = field(default_factory=list)
    default_lead: str | None = None
    default_deal: str | None = None
    #: What `load_model_set` read (None: a set made otherwise, as a test pins one).
    sources: Sources | None = None

    @classmethod
    def of(
        cls,
        lead: Served | None = None,
        deal: Served | None = None,
        deal_context: DealContext | None = None,
        loaded_at: datetime | None = None,
        problems: list[str] | None = None,
        degraded: list[str] | None = None,
    ) -> ModelSet:
        """A set serving at most one dataset per kind, as its default (what tests pin)."""
        models = cls(
            loaded_at=loaded_at or store.utcnow(),
            problems=list(problems or []),
            degraded=list(degraded or []),
        )
        models.deal_context = deal_context
        models.lead = lead
        models.deal = deal
        return models

    def problems_for(self, bound: str | None) -> list[str]:
        """`problems` as a key bound to dataset `bound` may read them: its dataset's and those
        of no dataset in particular (None: every one)."""
        if bound is None:
            return list(self.problems)
        return [p for p in self.problems if dataset_of(p) in (None, bound)]

    @property
    def lead(self) -> Served | None:
        return self.leads.get(self.default_lead) if self.default_lead is not None else None

    @lead.setter
    def lead(self, served: Served | None) -> None:
        self.default_lead = _pin(self.leads, self.default_lead, served)

    @property
    def deal(self) -> Served | None:
        return self.deals.get(self.default_deal) if self.default_deal is not None else None

    @deal.setter
    def deal(self, served: Served | None) -> None:
        self.default_deal = _pin(self.deals, self.default_deal, served)

    @property
    def deal_context(self) -> DealContext | None:
        if self.default_deal is None:
            return None
        return self.deal_contexts.get(self.default_deal)

    @deal_context.setter
    def deal_context(self, context: DealContext | None) -> None:
        if context is None:
            if self.default_deal is not None:
                self.deal_contexts.pop(self.default_deal, None)
            return
        if self.default_deal is None:
            self.default_deal = context.dataset
        self.deal_contexts[self.default_deal] = context

    @property
    def any_served(self) -> bool:
        """Whether anything scores: a model (or fallback) of some kind for some dataset."""
        return bool(self.leads or self.deals)

    def served(self) -> list[Served]:
        """Every model served: leads then deals, by dataset."""
        return [self.leads[n] for n in sorted(self.leads)] + [
            self.deals[n] for n in sorted(self.deals)
        ]

    def pick(self, kind: str, dataset: str | None = None) -> tuple[str, Served]:
        """(dataset, model) scoring a request of `kind` for `dataset` (None: the default).

        Raises `NotFound` for a dataset not served, `InvalidInput` when none is named and there
        is no default to fall back on, `ModelNotReady` when nothing of the kind serves."""
        by_dataset, default = (
            (self.leads, self.default_lead) if kind == LEAD else (self.deals, self.default_deal)
        )
        name = default if dataset is None else dataset
        served = by_dataset.get(name) if name is not None else None
        if served is None:
            raise self._why_not(kind, dataset, name)
        return name, served  # type: ignore[return-value]  # name is set when served is

    def _why_not(self, kind: str, dataset: str | None, name: str | None) -> ForecastError:
        by_dataset = self.leads if kind == LEAD else self.deals
        names = sorted(n for n in by_dataset if n != UNNAMED)
        if dataset is not None:  # which are served is not said: a client may see only its own
            return NotFound(
                f"dataset: no {kind} model is served for dataset '{dataset}' (GET /v1/models "
                "lists the datasets your key may use)"
            )
        if name is None and len(names) > 1:
            return InvalidInput(
                f"dataset: {kind} of several datasets are served ({', '.join(names)}) and none "
                f"is the default ({DEFAULT_SETTING[kind]}): pass ?dataset=NAME"
            )
        # `degraded` is in plain words; `problems` may name the tracking URI or a statement.
        detail = "; ".join(self.degraded) or NOTHING_SERVED.format(stored=STORED_KIND[kind])
        return ModelNotReady(f"no {kind} model is ready to score: {detail}")


def _pin(by_dataset: dict[str, Served], default: str | None, served: Served | None) -> str | None:
    """`served` put in as the default dataset's model; returns the default dataset's name."""
    if served is None:
        if default is not None:
            by_dataset.pop(default, None)
        return default
    name = default if default is not None else (served.dataset or UNNAMED)
    by_dataset[name] = served
    return name


#: Why nothing of a kind scores where nothing failed: nothing was promoted or imported.
NOTHING_SERVED = (
    "no champion (a trained model is promoted when it beats the baselines: `forecast models "
    "list`) and no {stored} dataset in the store to fall back on (`forecast import`)"
)
#: What `degraded` says, the same to everyone (the details go to `problems`).
REGISTRY_DOWN = "the model registry cannot be reached and no local copy of a champion is kept"
CHAMPION_BROKEN = "the registered champion could not be loaded"
DATASET_MISSING = (
    "deals: the dataset chosen to score deals against (FORECAST_DEAL_DATASET) is not an "
    "opportunities dataset in the store"
)
LEAD_DATASET_MISSING = (
    "leads: the dataset chosen to score leads by default (FORECAST_LEAD_DATASET) has neither a "
    "lead champion nor labelled leads in the store"
)


# --- loading ----------------------------------------------------------------------------------


def load_model_set(
    settings: Settings, engine: Engine, previous: ModelSet | None = None
) -> ModelSet:
    """Every dataset's champion (or fallback) for leads and deals; what failed is said in
    `problems`, what serves worse than it should in `degraded`.

    Served: for leads, every dataset with a lead champion and every leads dataset in the store;
    for deals, every opportunities dataset in the store (a deal champion needs its dataset's
    stages and win rates). The registry is read in one bounded visit: every MLflow call has the
    settings' timeout and retries, all of them share one deadline, and once the registry fails
    to answer it is not asked again in this load, so a registry that does not answer costs one
    timeout, not one per call.

    `previous`: the set serving, whose unchanged parts are kept rather than loaded again (`Kept`);
    None loads everything, as at start-up.
    """
    models = ModelSet()
    # The versions first: what changes during the load is seen by the next `current_sources`.
    datasets = stored_versions(engine)
    kept = Kept(previous, datasets)
    with engine.connect() as conn:
        stored = {kind: store.list_datasets(conn, STORED_KIND[kind]) for kind in (LEAD, DEAL)}
    for name in stored[DEAL]:
        context = kept.deal_context(name)
        try:
            models.deal_contexts[name] = context or deal_context(engine, name)
        except ForecastError as exc:
            models.problems.append(Problem(f"deals: dataset '{name}': {exc}", name))
    listed: dict[str, dict[str, str] | None] = {}
    with registry_visit(settings) as visit:
        for kind in (LEAD, DEAL):
            loader = _KindLoader(kind, settings, engine, models, visit, kept)
            served = loader.load(stored[kind])
            (models.leads if kind == LEAD else models.deals).update(served)
            listed[kind] = loader.versions
    by_kind = {LEAD: models.leads, DEAL: models.deals}
    models.sources = Sources(datasets, loaded_champions(listed, by_kind))
    models.default_lead = _default(settings.lead_dataset, models.leads)
    models.default_deal = _default(settings.deal_dataset, models.deals)
    if settings.lead_dataset and settings.lead_dataset not in models.leads:
        models.problems.append(
            Problem(
                f"leads: no lead model serves dataset '{settings.lead_dataset}'",
                settings.lead_dataset,
            )
        )
        models.degraded.append(LEAD_DATASET_MISSING)
    if settings.deal_dataset and settings.deal_dataset not in models.deals:
        models.problems.append(
            Problem(
                f"deals: dataset '{settings.deal_dataset}' is not an opportunities dataset in "
                f"the store; served: {sorted(models.deals)}",
                settings.deal_dataset,
            )
        )
        models.degraded.append(DATASET_MISSING)
    return models


def _default(chosen: str | None, served: dict[str, Served]) -> str | None:
    """The dataset a request naming none scores: the chosen one, else the only one served, else
    the only one with a champion, else none (a request must name one)."""
    if chosen:
        return chosen
    if len(served) == 1:
        return next(iter(served))
    champions = [name for name, s in served.items() if s.source != "fallback"]
    return champions[0] if len(champions) == 1 else None


@dataclass
class _KindLoader:
    """One kind's models, dataset by dataset, within the load's registry visit."""

    kind: str
    settings: Settings
    engine: Engine
    models: ModelSet
    visit: Visit
    kept: Kept
    #: Each dataset's champion version as the registry listed them (None: it could not).
    versions: dict[str, str] | None = field(default=None, init=False)

    def load(self, stored: list[str]) -> dict[str, Served]:
        kind, problems = self.kind, self.models.problems
        try:
            champions, self.versions = registry.champion_listing(kind, self.settings)
        except ModelNotReady as exc:  # the registry could not be read, and no local copy kept
            problems.append(f"{kind}: {exc}")
            champions = []
        # The visit failed (now or for an earlier kind): the registry did not answer, and what
        # was listed are the local copies. Else it answered (an error answer lists nothing).
        listing_failed = self.visit.failure is not None
        served: dict[str, Served] = {}
        # With the registry away, a stored dataset may have a champion nobody could list: its
        # local copy, if kept, serves.
        names = sorted(set(champions) | set(stored)) if listing_failed else champions
        for name in names:
            if kind == DEAL and name not in self.models.deal_contexts:
                if name not in stored:
                    problems.append(
                        Problem(
                            f"deals: a champion is registered for dataset '{name}', which is "
                            "not an opportunities dataset in the store: its deals cannot be "
                            "scored (import the dataset)",
                            name,
                        )
                    )
                continue
            model = self._champion(name)
            if model is not None:
                served[name] = model
        for name in stored:
            if name not in served:
                fallback = self._fallback(name)
                if fallback is not None:
                    served[name] = fallback
        if not served and not stored:
            problems.append(
                f"{kind}: no champion and no {STORED_KIND[kind]} dataset in the store yet: run "
                "`forecast import` first"
            )
        if listing_failed and (
            not any(s.source != "fallback" for s in served.values())
            or any(served[n].source == "fallback" for n in stored if n in served)
        ):
            self._degrade(REGISTRY_DOWN)
        return served

    def _degrade(self, why: str) -> None:
        said = f"{self.kind}: {why}"
        if said not in self.models.degraded:  # once per kind: the datasets are in `problems`
            self.models.degraded.append(said)

    def _champion(self, name: str) -> Served | None:
        kind, settings, visit = self.kind, self.settings, self.visit
        listed = self.versions.get(name) if self.versions is not None else None
        served = self.kept.champion(kind, name, listed)
        if served is not None:
            return served if self.kept.unchanged(name) else read_again(self.engine, served)
        try:
            loaded = registry.load_champion(kind, settings, dataset=name)
        except ModelNotReady as exc:
            self.models.problems.append(Problem(f"{kind}: dataset '{name}': {exc}", name))
            # The visit failed: the registry did not answer. Else it answered, and the champion
            # (its artifact, or the file itself) would not load.
            self._degrade(REGISTRY_DOWN if visit.failure else CHAMPION_BROKEN)
            return None
        if loaded is None:
            return None
        if loaded.reason:
            self.models.problems.append(
                Problem(
                    f"{kind}: serving the local copy v{loaded.version} of dataset '{name}': "
                    f"{loaded.reason}",
                    name,
                )
            )
        details = {}
        if visit.failure is None:  # details are optional: not worth a second wait
            try:
                details = registry.show_model(kind, loaded.version, settings, dataset=name)
            except Exception as exc:  # noqa: BLE001 - details are optional when serving a local copy
                log.warning("could not read the %s model details of %s: %s", kind, name, exc)
        if loaded.trained_at and not details.get("trained_at"):  # a local copy still says it
            details = {**details, "trained_at": loaded.trained_at}
        scorer = select_scorer(loaded.model)
        family = family_of(loaded.model).replace("_", " ")
        scorer.label = f"model {registry.model_name(kind, name)} v{loaded.version} ({family})"
        served = Served(kind, scorer, loaded.version, loaded.source, details, name)
        read_as_imported(self.engine, served)
        return served

    def _fallback(self, name: str) -> Served | None:
        kept = self.kept.fallback(self.kind, name)
        if kept is not None:
            return kept
        try:
            scorer = _fallback_scorer(self.kind, self.engine, name, self.models)
        except (ModelNotReady, NotFound) as exc:
            self.models.problems.append(Problem(f"{self.kind}: dataset '{name}': {exc}", name))
            return None
        served = Served(self.kind, scorer, None, "fallback", {}, name)
        read_as_imported(self.engine, served)
        return served


def read_again(engine: Engine, kept: Served) -> Served:
    """A kept champion (its scorer and model, what was made on them kept) serving its dataset as
    imported now: the dataset's notation read again; the inputs' wordings kept while it is the
    same, the lead fields as they are (made again if the creation date's column changed)."""
    served = Served(kept.kind, kept.scorer, kept.version, kept.source, kept.details, kept.dataset)
    read_as_imported(engine, served)
    if served.numbers == kept.numbers:
        served.wordings = kept.wordings
    served.fields = kept.fields
    return served


def read_as_imported(engine: Engine, served: Served) -> None:
    """What the dataset's import kept about how its export writes values (a CRM sends them so,
    and reasons write numbers so): a lead dataset's own column for the creation date (None:
    `created_at`), its number notation and date formats; for a dataset not in the store, those
    of the file its model was trained from (`export_options_`), else nothing."""
    try:
        with engine.connect() as conn:
            stored = store.get_dataset(conn, str(served.dataset))["options"]
    except (NotFound, SQLAlchemyError):
        stored = getattr(getattr(served.scorer, "model", None), "export_options_", None)
        if not stored:
            return
    options = DatasetOptions.from_dict(stored)
    if served.kind == LEAD and options.created_at_column:
        served.created_column = options.created_at_column
    served.numbers = options.notation or served.numbers
    served.date_formats = options.date_formats


def _fallback_scorer(kind: str, engine: Engine, name: str, models: ModelSet) -> Scorer:
    """The labelled fallback of a dataset with no champion: the per-stage win rate of its deals,
    the conversion rate of its labelled leads."""
    if kind == DEAL:
        context = models.deal_contexts.get(name)
        if context is None:
            raise ModelNotReady("no deal model and no deal history to fall back on")
        return deal_fallback(context.history, stage_win_rates(context.history))
    leads = store.leads
    query = select(func.avg(leads.c.converted), func.count(leads.c.converted)).where(
        leads.c.dataset == name
    )
    with engine.connect() as conn:
        rate, labelled = conn.execute(query).one()
    if not labelled:
        raise ModelNotReady("no lead model and no labelled leads to fall back on")
    return select_scorer(None, base_rate=float(rate))


def deal_context(engine: Engine, name: str) -> DealContext:
    """What scoring a deal of dataset `name` needs: its stages, and win rates as of now."""
    history = load_deal_history(engine, name)
    now = store.utcnow()
    try:
        end: pd.Timestamp | None = history.end
    except InvalidInput:  # no dated deal yet
        end = None
    return DealContext(name, history.stages, feat.win_rates_as_of(history, now), history, end)


def deal_fallback(history: DealHistory | None, rates: StageWinRate | None) -> Scorer:
    """What scores a deal without a champion, the API's and a batch's alike: the dataset's stage
    probabilities where the stage history is flat (`_crm_fallback`), else the per-stage win rate
    of the dataset's deals."""
    crm = _crm_fallback(history, rates) if history is not None else None
    if crm is not None:
        return crm
    if rates is None and history is not None:  # ended deals, but none dated: the overall rate
        status = history.deals["status"]
        ended = status.isin([WON, LOST])
        if ended.any():
            return undated_scorer(float((status[ended] == WON).mean()))
    return select_scorer(None, stage_rates=rates)


def _crm_fallback(history: DealHistory, rates: StageWinRate | None) -> Scorer | None:
    """The dataset's stage probabilities as the fallback where the stage history is flat and
    it has them (a preset's, a mapping's or a drafted estimate); None otherwise."""
    if rates is not None and rates.top_share_ < FLAT_STAGE_SHARE:
        return None
    given = history.options.stage_probabilities
    prior = stage_probabilities(history.stages.open_stages, given) if given else None
    if prior is None:
        return None
    overall = rates.overall_ if rates is not None else float(np.mean(list(prior.values())))
    return crm_stage_scorer(prior, overall, history.options.stage_probabilities_from)
