"""Out-of-the-box data: `make run` fills an empty store with a generated pipeline and leads."""

from __future__ import annotations

from collections.abc import Iterator

from forecast.data import store
from forecast.data.generator import generate_leads, generate_pipeline, write_export, write_leads
from forecast.data.importing import import_export
from forecast.data.mapping import Mapping
from forecast.settings import Settings

DEMO_DEALS = "demo_pipeline"
DEMO_LEADS = "demo_leads"


def prepare_demo(settings: Settings, *, deals: int = 5000, seed: int = 42) -> Iterator[str]:
    """Generate and import demo data if the store holds none; say what was done."""
    engine = store.get_engine(settings)
    with engine.connect() as conn:
        present = store.list_datasets(conn)
    if present:
        yield f"store already holds {', '.join(present)}: nothing generated"
        return
    folder = settings.state_dir / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    write_export(generate_pipeline(deals, seed=seed), folder)
    report = import_export(engine, folder, "canonical", dataset=DEMO_DEALS)
    yield f"imported {report.rows_written:,} generated deals into dataset '{DEMO_DEALS}'"
    lead_file = folder / "leads.csv"
    write_leads(generate_leads(deals, seed=seed), lead_file)
    report = import_export(engine, lead_file, _demo_leads_mapping(), dataset=DEMO_LEADS)
    yield f"imported {report.rows_written:,} generated leads into dataset '{DEMO_LEADS}'"


def _demo_leads_mapping() -> Mapping:
    return Mapping(
        kind="leads",
        dataset=DEMO_LEADS,
        columns={"id": "id", "converted": "converted", "created_at": "created_at"},
        leak_columns=["Tags"],
    )
