"""Out-of-the-box data: `make run` fills an empty store with a generated pipeline and leads."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from forecast import keys
from forecast.data import store
from forecast.data.generator import generate_leads, generate_pipeline, write_export, write_leads
from forecast.data.importing import import_export
from forecast.data.mapping import Mapping
from forecast.settings import Settings

DEMO_DEALS = "demo_pipeline"
DEMO_LEADS = "demo_leads"
#: Where the local demo's sign-in key is kept (inside the state folder, readable by its owner only):
#: the store holds only its hash, so the plain key lives here to be shown again on the next start.
DEMO_KEY_FILE = "demo-key"
DEMO_KEY_NAME = "local demo (make run)"


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


@dataclass(frozen=True)
class DemoKey:
    """The local demo's admin key and whether it was made just now."""

    key: str
    created: bool


def demo_key(settings: Settings) -> DemoKey:
    """The local demo's sign-in key: made once per state folder and kept in it, so every `make
    run` can show it; a new one replaces a key that was revoked or whose store was reset."""
    path = settings.state_dir / DEMO_KEY_FILE
    engine = store.get_engine(settings)
    kept = _read_key(path)
    if kept and keys.KeyVerifier(engine, ttl_seconds=0).verify(kept) is not None:
        return DemoKey(kept, created=False)
    with engine.begin() as conn:
        _, plain = keys.create_key(conn, "admin", DEMO_KEY_NAME)
    _write_private(path, plain)
    return DemoKey(plain, created=True)


def sign_in_lines(settings: Settings) -> list[str]:
    """What `make run` prints before serving: where to go and the key to sign in with."""
    found = demo_key(settings)
    url = f"http://{settings.host}:{settings.port}"
    kept = "new key" if found.created else "kept"
    return [
        f"dashboard and API: {url} (API docs at {url}/docs)",
        f"sign in with this admin key ({kept} in {settings.state_dir / DEMO_KEY_FILE}): "
        f"{found.key}",
    ]


def _read_key(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError, UnicodeDecodeError):
        return None
    return text or None


def _write_private(path: Path, text: str) -> None:
    """Write `text` readable by its owner only, replacing any file whole (never half-written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text + "\n")
    os.replace(tmp, path)
