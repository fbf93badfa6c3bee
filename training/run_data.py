"""What a training run learnt from, as `forecast train` logs it and `forecast models show` says
it: the data (its name, source, digest and range: `registry.inputs`) and the columns the model
left out, and why."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from rich.console import Console

from forecast.settings import get_settings
from training.data_arg import given_path
from training.training_data import Kind

if TYPE_CHECKING:  # the registry (MLflow's side) is imported where a command needs it
    from forecast.modeling.registry.inputs import DataSource, TrainingData


def described(kind: Kind, frames: dict[str, Any], data: str | None, engine: Any) -> TrainingData:
    """The data a run read (`frames`, from `--data`): the file or folder `data` names, else the
    stored dataset. On a cluster, from what this process holds of it (`engine.source`'s summary
    and newest date for deals; a stored leads dataset's dates from the store). The time-to-close
    model's run (`forecast timing`) reads deals: its data is described as a deals run's."""
    import pandas as pd

    from forecast.modeling.registry.inputs import lead_data

    name, source = _named(frames, data)
    if kind is Kind.deals:
        return _deals(frames["history"], name, source, getattr(engine, "source", None))
    if isinstance(frames["leads"], pd.DataFrame):
        return lead_data(frames["leads"], name, source)
    return _stored_leads(name, source)


def replayed(loaded: dict[str, Any], data: str | None, read: Any) -> tuple[TrainingData, str]:
    """The deals a backtest replays (`loaded`, from `--data`; `read`, where a cluster reads
    them by partition), described as a deals run's data, and their fingerprint: a deals run's
    on the same data (`data.fingerprint`, or the partitioned read's) is the same."""
    from forecast.data.fingerprint import fingerprint

    name, source = _named(loaded, data)
    history = loaded["history"]
    digest = read.fingerprint if read is not None else fingerprint(history.deals, history.stage_log)
    return _deals(history, name, source, read), digest


def _named(frames: dict[str, Any], data: str | None) -> tuple[str, DataSource]:
    """The dataset's name and where it was read: the file or folder `data` names, else the
    stored dataset."""
    from forecast.modeling.registry import NO_DATASET
    from forecast.modeling.registry.inputs import file_source, store_source

    settings = get_settings()
    name = str(frames["dataset"] or NO_DATASET)
    path = given_path(data, settings)
    if path is not None:
        return name, file_source(path)
    return name, store_source(settings.resolved_database_url, name)


def _deals(history: Any, name: str, source: DataSource, read: Any) -> TrainingData:
    """Deals data; `read`, a partitioned read whose summary `history` is (its newest date)."""
    import pandas as pd

    from forecast.modeling.registry.inputs import deal_data

    if read is None:
        return deal_data(history, name, source)
    summary = deal_data(history, name, source, end=read.end)
    return replace(summary, sample=pd.DataFrame())  # its few columns are not the data's


def _stored_leads(name: str, source: DataSource) -> TrainingData:
    """A stored leads dataset read on the cluster: its range and count from the store."""
    import pandas as pd
    from sqlalchemy import func, select

    from forecast.data import store
    from forecast.data.tables import leads
    from forecast.modeling.registry.inputs import FIRST_CREATED, LAST_CREATED, LEADS, TrainingData

    query = select(func.min(leads.c.created_at), func.max(leads.c.created_at), func.count())
    with store.get_engine(get_settings()).connect() as conn:
        first, last, count = conn.execute(query.where(leads.c.dataset == name)).one()
    params = {LEADS: str(count)}
    if first is not None and last is not None:
        params[FIRST_CREATED] = pd.Timestamp(first).isoformat()
        params[LAST_CREATED] = pd.Timestamp(last).isoformat()
    return TrainingData(name, source, int(count), params)


def print_data(info: dict[str, Any], out: Console) -> None:
    """The data a version was trained on, where its run logged it: the range, the as-of date,
    how many rows, and the training input's name and digest."""
    from forecast.modeling.registry.inputs import (
        AS_OF,
        DEALS,
        FIRST_CREATED,
        LAST_CREATED,
        LEADS,
        READ_FROM,
        TRAINING,
    )

    params = info.get("params") or {}
    said = []
    if FIRST_CREATED in params:
        said.append(f"created {params[FIRST_CREATED]} to {params.get(LAST_CREATED)}")
    if AS_OF in params:
        said.append(f"as of {params[AS_OF]}")
    for key, what in ((DEALS, "deals"), (LEADS, "leads")):
        if key in params:
            said.append(f"{int(params[key]):,} {what}")
    trained = [i for i in info.get("inputs") or [] if i.get("context") == TRAINING]
    if trained:
        read = trained[0]["tags"].get(READ_FROM)
        where = f", read from {read}" if read else ""
        said.append(f"input {trained[0]['name']} (digest {trained[0]['digest']}{where})")
    if said:
        out.print(f"data: {', '.join(said)}", markup=False)


#: The columns a lead model leaves out of its inputs, by why (`summary["columns"]`).
LEFT_OUT = {
    "identifiers": "identifiers (a different value on nearly every lead, or a name)",
    "single_valued": "one value only",
    "dated_on_every_lead": "a date on every lead (set on all: says nothing)",
    "dated_after_creation": "dates after the lead came in (a new lead has none yet)",
    "scattered": "too many different values (under a fifth of the leads share one it learns)",
}


def print_left_out(columns: dict[str, Any], out: Console) -> None:
    """Which columns the model does not learn from and why, so a column of numbers read as
    text (a decimal comma the mapping does not name) is not left out unsaid."""
    for key, why in LEFT_OUT.items():
        if columns.get(key):
            out.print(f"not learnt from, {why}: {', '.join(map(str, columns[key]))}", markup=False)
    if columns.get("date_flags"):  # a date never comes again: what is learnt is whether one is
        said = ", ".join(map(str, columns["date_flags"]))
        out.print(f"read as dates, learnt as 'is set' (1 a date, 0 blank): {said}", markup=False)
