"""`--data`: a path to read, or the name of a dataset in the store.

A name that is also a file or folder in the working directory ("gen", where `forecast generate`
wrote `gen/` and `forecast import gen` stored it) is the stored dataset: it holds what was
imported and what the CRM pushed since, and its models are registered under its name, while
reading the folder would train a model named for the folder's mapping on the old rows alone.
That is said once; `./gen` reads the folder.
"""

from __future__ import annotations

import functools
from pathlib import Path

from forecast.errors import InvalidInput, NotFound
from forecast.settings import Settings, get_settings
from training.console import err_console


def given_path(data: str | None, settings: Settings | None = None) -> Path | None:
    """`data` as a path to read, or None: not given, no such file or folder, or a bare name
    the store holds as a dataset (`stored_wins`)."""
    if data is None:
        return None
    path = Path(data)
    if not path.exists():
        return None
    settings = settings or get_settings()
    if data == path.name and not path.suffix and stored_wins(data, settings.resolved_database_url):
        return None
    return path


@functools.cache
def stored_wins(name: str, database_url: str) -> bool:
    """Whether `name` is a dataset in the store at `database_url` (said once: it is read, not
    the same-named folder)."""
    if not _in_store(name, database_url):
        return False
    err_console.print(
        f"note: {name!r} is a dataset in the store and a file or folder here: the stored "
        f"dataset is read (give ./{name} to read the file or folder)",
        markup=False,
        style="dim",
    )
    return True


def _in_store(name: str, database_url: str) -> bool:
    """Whether the store at `database_url` holds a dataset named `name` (an unreachable store
    holds none)."""
    from sqlalchemy.exc import SQLAlchemyError

    from forecast.data import store

    engine = store.cached_engine(database_url, get_settings().sqlite_busy_seconds)
    try:
        with engine.connect() as conn:
            store.get_dataset(conn, name)
    except (NotFound, SQLAlchemyError):
        return False
    return True


def mapping_read(data: str | None, mapping: str | None, settings: Settings | None = None) -> None:
    """`--mapping` reads a file: given with a stored dataset (or none, the store's only one),
    which its import's mapping read, it would be left unread; refused, saying so."""
    if mapping is None or given_path(data, settings) is not None:
        return
    if data is not None and not _in_store(data, (settings or get_settings()).resolved_database_url):
        return  # neither a file nor a dataset: reading it says so
    what = f"{data!r} is a dataset in the store" if data else "no --data names one"
    raise InvalidInput(
        f"mapping: reads a file, and {what}: a stored dataset is read as its import's mapping "
        "read it; drop --mapping, or pass the export file with --data (or import it again "
        "with the mapping)"
    )


def check_not_a_path(data: str | None, settings: Settings | None = None) -> None:
    """`data` that reads as a file's path (a folder in it, or an export's suffix) but names no
    file, folder or stored dataset: said as a missing file, not as an unknown dataset."""
    if data is None or given_path(data, settings) is not None:
        return
    if Path(data).suffix.lower() in (".parquet", ".csv", ".zip") or "/" in data:
        if not _in_store(data, (settings or get_settings()).resolved_database_url):
            raise InvalidInput(f"--data: no file or folder at {data}")
