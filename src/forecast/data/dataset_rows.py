"""What an import may do to a dataset already stored: add to it (the default), or replace it.

The store merges imports: a deal's newer state wins and a tie keeps the stored one, which is
right for the next export of the same CRM. It is wrong for the same export read again with a
corrected mapping (amounts in cents, a stage read as open): the tie keeps about half of the first
reading. An import with `replace` first removes what earlier imports and CRM pushes stored for
the dataset, in the import's own transaction: the dataset then holds this export as read, and an
import that is rejected leaves every old row in place.
"""

from __future__ import annotations

from sqlalchemy import Connection, delete

from forecast.data import store
from forecast.errors import InvalidInput

#: The tables an export fills, per kind of dataset, with what a report calls their rows; and the
#: backtest record, which scored the data replaced and would go on choosing the method users see
#: and sizing its range (a shorter backtest of the new data would not overwrite it).
_FILLED = {
    "opportunities": (
        (store.opportunities, "deal(s)"),
        (store.stage_history, "stage entries"),
        (store.field_history, "field observations"),
        (store.track_record, "past forecasts of the backtest record"),
    ),
    "leads": ((store.leads, "lead(s)"),),
}


def same_kind(conn: Connection, dataset: str, kind: str) -> None:
    """A dataset holds deals or leads, never both: importing leads under a deal dataset's name
    would make its deals unreachable (every deal command refuses a lead dataset)."""
    if dataset not in store.list_datasets(conn):
        return
    held = store.get_dataset(conn, dataset)["kind"]
    if held != kind:
        raise InvalidInput(
            f"dataset {dataset!r} holds {held}, not {kind}: import these under another name "
            "(--dataset NAME)"
        )


def check_replace(replace: bool, on_error: str) -> None:
    """A replace writes the export as a whole: a bad row skipped would drop its deal, which
    the dataset held before, without saying which."""
    if replace and on_error != "reject":
        raise InvalidInput(
            "--replace cannot skip bad rows (--on-error skip): a deal whose new row is bad would "
            "be dropped from the dataset; fix those rows, or import without --replace"
        )


def clear(conn: Connection, dataset: str, kind: str) -> str:
    """Remove the rows earlier imports and pushes stored for `dataset` (of `kind`, checked by
    `same_kind` first), under the dataset's write lock, and say what was removed. Models,
    targets, keys, logs and tracked forecasts stay: they are not the export's."""
    store.lock_dataset(conn, dataset)
    removed = []
    for table, rows in _FILLED[kind]:
        count = conn.execute(delete(table).where(table.c.dataset == dataset)).rowcount
        if count:
            removed.append(f"{count:,} {rows}")
    if not removed:
        return f"--replace: dataset {dataset!r} held nothing before this import"
    return (
        f"--replace: removed what dataset {dataset!r} held before ({', '.join(removed)}); "
        "it holds this export as read"
    )
