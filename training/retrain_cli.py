"""`forecast retrain [deals|leads] --if-needed`: retrain when monitoring says the champion is due.

The rule (`forecast.model_monitoring.retrain_decision`) looks at the champion's age, its realised
AUC (its logged scores against the outcomes that came after them) and the PSI of its inputs;
retraining goes through `forecast train`'s path, promotion gate included. Meant for cron.
Each dataset has its own champion: the one judged is that of the dataset retrained (`--data`, or
the store's only dataset of that kind), never another dataset's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from forecast.settings import Settings, get_settings
from training.console import console, handles_errors, print_json
from training.data_arg import given_path
from training.models_cli import DataOpt, JsonOpt, Kind, _train

if TYPE_CHECKING:  # imported where used: it loads scikit-learn, which `forecast --help` need not
    from forecast import model_monitoring as mm


@handles_errors
def retrain(
    kind: Annotated[Kind, typer.Argument(help="leads or deals")] = Kind.deals,
    if_needed: Annotated[
        bool,
        typer.Option("--if-needed", help="Retrain only when a check below calls for it"),
    ] = False,
    max_age_days: Annotated[
        float | None, typer.Option(min=0, help="Retrain a champion older than this")
    ] = None,
    min_auc: Annotated[
        float | None,
        typer.Option(min=0, max=1, help="Retrain when the realised AUC falls below this"),
    ] = None,
    max_psi: Annotated[
        float | None, typer.Option(min=0, help="Retrain when any input's PSI exceeds this")
    ] = None,
    data: DataOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Retrain through the promotion gate; with --if-needed, only when the champion is older
    than --max-age-days, its realised AUC fell below --min-auc or an input's PSI exceeds
    --max-psi, saying why it did or did not."""
    from forecast import model_monitoring as mm

    settings = get_settings()
    dataset = dataset_of(kind, data, settings)
    if if_needed:
        rule = mm.RetrainRule(max_age_days, min_auc, max_psi)
        decision = champion_decision(kind, data, rule, settings, dataset=dataset)
    else:
        decision = mm.RetrainDecision(True, ["asked to retrain (no --if-needed)"], [])
    out: dict[str, Any] = {"kind": kind.value, "dataset": dataset, "decision": decision.to_dict()}
    if not json_:
        verdict = "retraining" if decision.retrain else "not retraining"
        console.print(f"{kind.value} of {dataset}: {verdict}")
        for line in decision.reasons:
            console.print(f"  because {line}")
        for line in decision.checks:
            console.print(f"  fine: {line}")
    if decision.retrain:
        out["training"] = _train(kind, data or dataset, None, json_, None, True, show=not json_)
    if json_:
        print_json(out)


def champion_decision(
    kind: Kind,
    data: str | None,
    rule: mm.RetrainRule,
    settings: Settings,
    dataset: str | None = None,
) -> mm.RetrainDecision:
    """The rule applied to the registered champion of `kind` of the dataset retrained (none:
    retrain)."""
    from forecast import model_monitoring as mm
    from forecast.errors import ForecastError
    from forecast.modeling import registry

    dataset = dataset or dataset_of(kind, data, settings)
    rows = [
        r
        for r in registry.list_models(settings)
        if r["kind"] == kind.value and r["dataset"] == dataset
    ]
    champion = next((r for r in rows if "champion" in r["aliases"]), None)
    if champion is None:
        return mm.RetrainDecision(
            True, [f"no {kind.value} champion is registered for dataset {dataset!r}"], []
        )
    if not any(x is not None for x in (rule.max_age_days, rule.min_auc, rule.max_psi)):
        return mm.RetrainDecision(
            False, [], ["no check asked for: give --max-age-days, --min-auc or --max-psi"]
        )
    version = str(champion["version"])
    created = champion.get("created")
    trained_at = (
        datetime.fromtimestamp(created / 1000, UTC).replace(tzinfo=None) if created else None
    )
    report: mm.Monitoring | None = None
    if rule.min_auc is not None or rule.max_psi is not None:
        details = registry.show_model(kind.value, version, settings, dataset=dataset)
        try:
            report = _report(kind, dataset, version, details, settings)
        except ForecastError as exc:  # e.g. the dataset is gone: judged on what is left
            decision = mm.retrain_decision(None, trained_at, rule)
            decision.checks.append(f"monitoring unavailable: {exc}")
            return decision
    return mm.retrain_decision(report, trained_at, rule)


def dataset_of(kind: Kind, data: str | None, settings: Settings) -> str:
    """The dataset `forecast train` would learn from, as it names it: a stored dataset (default:
    the store's only one of that kind), a canonical Parquet folder's name, an export's mapping's
    dataset."""
    from forecast.data import store
    from forecast.parquet_export import is_parquet_export

    path = given_path(data, settings)
    if path is not None:
        if kind is Kind.deals and is_parquet_export(path):
            return path.name
        from forecast.data.mapping_detect import detect_mapping

        return detect_mapping(path).dataset
    with store.get_engine(settings).connect() as conn:
        want = "opportunities" if kind is Kind.deals else "leads"
        return store.resolve_dataset(conn, data, want, how=store.on_command_line("--data"))


def _report(
    kind: Kind, dataset: str | None, version: str, details: dict[str, Any], settings: Settings
) -> mm.Monitoring:
    from forecast import model_monitoring as mm
    from forecast.data import store
    from forecast.history import load_deal_history

    engine = store.get_engine(settings)
    with engine.connect() as conn:
        name = store.resolve_dataset(
            conn, dataset, "opportunities" if kind is Kind.deals else "leads"
        )
    if kind is Kind.leads:
        return mm.monitor_leads(engine, name, version=version)
    return mm.monitor_deals(
        engine,
        load_deal_history(engine, name),
        version=version,
        trained_on_before=mm.training_cut(details),
        every_days=settings.snapshot_every_days,
    )
