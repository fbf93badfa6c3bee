"""What a training command learns from: a stored dataset, an export file or folder (mapped and
validated), or a canonical Parquet export, read into the frames the trainers take."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

from forecast.errors import InvalidInput
from forecast.settings import Settings, get_settings
from training.data_arg import given_path


class Kind(StrEnum):
    leads = "leads"
    deals = "deals"


def _field_names(mapping: Any) -> dict[str, str]:
    try:
        return dict(mapping.column_map())
    except Exception:  # noqa: BLE001 - names are a nicety for reasons
        return {}


def stored_field_names(name: str) -> dict[str, str]:
    """A stored dataset's source column names (for reasons), where its mapping is built in."""
    from forecast.data.mapping import BUILT_IN, load_mapping

    return _field_names(load_mapping(name)) if name in BUILT_IN else {}


def load_training_data(
    data: str | None, mapping: str | None, kind: Kind, settings: Settings
) -> dict[str, Any]:
    """Frames, stages, leak columns, options and field names from a path or a stored dataset."""
    from forecast.data import store
    from forecast.data.dataset_options import DatasetOptions
    from forecast.data.mapping import load_mapping
    from forecast.data.mapping_detect import detect_mapping
    from forecast.history import DealHistory, load_deal_history
    from forecast.parquet_export import is_parquet_export, read_whole

    want = "leads" if kind is Kind.leads else "opportunities"
    path = given_path(data, settings)
    if path is not None and kind is Kind.deals and is_parquet_export(path):
        history = read_whole(path)
        return {"dataset": history.name, "history": history, "field_names": {}}
    if path is not None:
        export = _read_to_train(path, mapping, kind)
        if export.kind != want:
            raise InvalidInput(
                f"{data} holds {export.kind}, not {want}: use "
                f"`forecast train {'leads' if export.kind == 'leads' else 'deals'}`"
            )
        m = load_mapping(mapping) if mapping else detect_mapping(Path(data))
        if kind is Kind.leads:
            _check_labels(export.leads, m)
        options = DatasetOptions.from_dict(export.options)
        out = {
            "dataset": export.dataset,
            "leads": export.leads,
            "leak_columns": export.leak_columns,
            "field_names": _field_names(m),
            "notation": options.notation,
            "date_formats": options.date_formats,
            "outcome_days": options.outcome_days,
            "options": export.options,  # how a served model reads its requests (never imported)
            # How the file was read (its separator, encoding, number notation, fixes): said
            # with the run, as an import says it, so a file misread is seen before it serves.
            "read_notes": list(export.report.notes),
        }
        if export.kind == "opportunities":
            out["history"] = DealHistory.from_frames(
                export.opportunities,
                export.history,
                export.stages,
                field_log=export.field_log(),
                options=export.options,
                name=export.dataset,
            )
        return out
    engine = store.get_engine(settings)
    with engine.connect() as conn:
        name = store.resolve_dataset(conn, data, want, how=store.on_command_line("--data"))
        row = store.get_dataset(conn, name)
    if row["kind"] != want:
        raise InvalidInput(f"dataset {name!r} holds {row['kind']}, not {want}")
    field_names = stored_field_names(name)
    options = DatasetOptions.from_dict(row["options"])
    out: dict[str, Any] = {
        "dataset": name,
        "stored": True,  # read from the store by name (not a file): its track record is its own
        "leak_columns": list(row["leak_columns"] or []),
        "field_names": field_names,
        "notation": options.notation,
        "date_formats": options.date_formats,
        "outcome_days": options.outcome_days,
    }
    if kind is Kind.leads:
        out["leads"] = store.load_leads(engine, name)
    else:
        out["history"] = load_deal_history(engine, name)
    return out


def _read_to_train(path: Path, mapping: str | None, kind: Kind) -> Any:
    """The export read for training; one with bad rows is refused naming how to train on the
    others (`train` takes no `--on-error`: the import that skips them does)."""
    from forecast.data.importing import read_export
    from forecast.errors import ImportRejected

    try:
        return read_export(path, mapping)
    except ImportRejected as exc:
        report = exc.report
        if not report.bad_rows or not str(exc).startswith("import rejected:"):
            raise  # a misread date format or no row read: skipping rows would not help
        mapped = f" --mapping {mapping}" if mapping else ""
        raise ImportRejected(
            report,
            f"{path}: {report.problem_count} problem(s) in {report.bad_rows} row(s); nothing was "
            "trained. Correct the file or the mapping (the problems and notes above say what is "
            "wrong), or train on the other rows by importing the file skipping them: `forecast "
            f"import {path}{mapped} --on-error skip`, then `forecast train {kind.value} --data "
            f"{report.dataset}`",
        ) from None


def partitioned_deals(client: Any, data: str | None) -> Any:
    """The deals `--data` names read by partition on the cluster (`PartitionedExport`), each
    worker reading its slices itself: a canonical Parquet export's row groups, or a stored
    opportunities dataset from the store. None for a CSV/Excel export, which is read in the
    command's process."""
    from forecast.data import store
    from forecast.parquet_export import is_parquet_export, read_partitioned
    from forecast.store_slices import read_store_partitioned

    path = given_path(data)
    if path is not None and is_parquet_export(path):
        return read_partitioned(client, path)
    if path is not None:
        return None
    engine = store.get_engine(get_settings())
    with engine.connect() as conn:
        name = store.resolve_dataset(
            conn, data, "opportunities", how=store.on_command_line("--data")
        )
        kind = store.get_dataset(conn, name)["kind"]
    if kind != "opportunities":
        raise InvalidInput(f"dataset {name!r} holds {kind}, not opportunities")
    source = read_store_partitioned(client, engine, name)
    source.field_names = stored_field_names(name)
    return source


def partitioned_leads(client: Any, data: str | None) -> dict[str, Any] | None:
    """The frames `train leads` reads of a stored leads dataset on the cluster: its leads as
    slices read on the workers (`dask_leads.ClusterLeads`, under "leads"), its name, leak
    columns and field names. None for an export file, which is read in the command's process."""
    from forecast.data import store
    from forecast.data.dataset_options import DatasetOptions
    from forecast.modeling.dask_leads import ClusterLeads
    from forecast.store_slices import lead_slices

    if given_path(data) is not None:
        return None
    engine = store.get_engine(get_settings())
    with engine.connect() as conn:
        name = store.resolve_dataset(conn, data, "leads", how=store.on_command_line("--data"))
        row = store.get_dataset(conn, name)
    if row["kind"] != "leads":
        raise InvalidInput(f"dataset {name!r} holds {row['kind']}, not leads")
    options = DatasetOptions.from_dict(row["options"])
    return {
        "dataset": name,
        "stored": True,
        "leads": ClusterLeads(
            client,
            lead_slices(client, engine, name),
            date_formats=options.date_formats,
        ),
        "leak_columns": list(row["leak_columns"] or []),
        "field_names": stored_field_names(name),
        "outcome_days": options.outcome_days,
    }


def _check_labels(leads: Any, m: Any) -> None:
    """A lead file without one outcome is refused naming the file's own column for it (the
    mapping's), where the model fitting could name only the canonical 'converted'; so is one
    whose outcomes are all alike, saying how many leads it left not known yet."""
    source = m.column_map().get("converted")
    named = f"{source!r} (converted)" if source not in (None, "converted") else "'converted'"
    if "converted" in leads.columns and leads["converted"].notna().any():
        labels = leads["converted"].dropna()
        if labels.nunique() > 1:
            return
        only, other = ("converted", 'not converted ("0")')
        if labels.iloc[0] != 1:
            only, other = ("not converted", 'converted ("1")')
        unknown = int(leads["converted"].isna().sum())
        fix = f"; name in the mapping's value_fixes which values of {source!r} mean {other}"
        raise InvalidInput(
            f"one class only: all {len(labels):,} leads with a value in {named} are {only}"
            + (f"; {unknown:,} have none (not known yet)" if unknown else "")
            + ": a model needs both outcomes"
            + (fix if source is not None else "")
        )
    raise InvalidInput(
        f"no lead has a value in {named}, 0 or 1 (or the words the mapping reads as them): "
        "nothing to learn from; is it the right file, and does the mapping name its outcome "
        "column?"
    )
