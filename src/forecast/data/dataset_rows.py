"""What an import may do to a dataset already stored: add to it (the default), or replace it.

The store merges imports: a deal's newer state wins and a tie keeps the stored one, which is
right for the next export of the same CRM. It is wrong for the same export read again with a
corrected mapping (amounts in cents, a stage read as open): the tie keeps about half of the first
reading. An import with `replace` first removes what earlier imports and CRM pushes stored for
the dataset, in the import's own transaction: the dataset then holds this export as read, and an
import that is rejected leaves every old row in place.
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, func, select

from forecast.data import store
from forecast.data.stages import StageSet
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
    store.new_version(conn, dataset)
    return (
        f"--replace: removed what dataset {dataset!r} held before ({', '.join(removed)}); "
        "it holds this export as read"
    )


def held(conn: Connection, dataset: str, kind: str) -> int:
    """How many deals (or leads) the dataset holds: read before an import writes, to tell an
    export of the same CRM from another one merged into it (`merged_note`)."""
    table = _FILLED[kind][0][0]
    count = select(func.count()).select_from(table).where(table.c.dataset == dataset)
    return int(conn.execute(count).scalar() or 0)


def written(
    conn: Connection,
    dataset: str,
    kind: str,
    stages: StageSet | None,
    before: int,
    read: int,
) -> str | None:
    """What is checked once an export's rows are written (a CRM's push, in the dataset's own
    stages, is not: it would cost a scan of the dataset a push): no deal left in a stage the
    mapping does not name (`check_stages`, raises); and the note on a file merged into a
    dataset that held none of its rows (`merged_note`). One count of the dataset serves both."""
    after = check_stages(conn, dataset, stages) if stages is not None else None
    if before == 0 or read == 0:
        return None  # no merge to say: the dataset held nothing, or the file gave nothing
    if after is None:
        after = held(conn, dataset, kind)
    return merged_note(dataset, kind, before, read, after)


def merged_note(dataset: str, kind: str, before: int, read: int, after: int) -> str | None:
    """Said when none of an import's `read` rows was among the `before` the dataset already
    held (it holds `after` once they are written): a dataset is named after its CRM or mapping,
    so another company's or pipeline's export (or a second file named alike) lands in it unless
    given its own name, and its deals then count in every figure beside the first ones. Right
    for an export of new deals only."""
    if before == 0 or read == 0 or after - before < read:
        return None
    what = "deals" if kind == "opportunities" else "leads"
    return (
        f"none of this file's {read:,} {what} was among the {before:,} dataset {dataset!r} "
        f"held: they were added to them, and its figures now count both. Right for an export "
        f"of new {what} only; if this is another company's or pipeline's export, import it "
        f"under its own name (--dataset NAME), and the earlier export again with --replace "
        f"to take these out"
    )


#: The most stranded stages an error names (the rest are counted).
STRANDED_SHOWN = 8


def check_stages(conn: Connection, dataset: str, stages: StageSet) -> int:
    """Refuse an import that leaves stored deals in stages its mapping does not name: the
    dataset's stages become the mapping's, so those deals would stand in no stage it knows
    (counted at the funnel's start, scored as no stage). Another CRM's or company's export
    merged by its name does this, and so does a mapping whose stages were renamed. Checked
    once the rows are written, so a deal this export moves to a known stage is not counted.
    Returns how many deals the dataset holds (the sum of its stages' counts)."""
    table = store.opportunities
    found = conn.execute(
        select(table.c.stage, func.count())
        .where(table.c.dataset == dataset)
        .group_by(table.c.stage)
        .order_by(func.count().desc(), table.c.stage)
    ).all()
    known = set(stages.all_stages)
    stranded = [(stage, int(n)) for stage, n in found if stage not in known]
    if not stranded:
        return sum(int(n) for _, n in found)
    shown = ", ".join(f"{stage!r} ({n:,} deal(s))" for stage, n in stranded[:STRANDED_SHOWN])
    more = len(stranded) - STRANDED_SHOWN
    also = f" and {more} more stage(s)" if more > 0 else ""
    raise InvalidInput(
        f"dataset {dataset!r} holds deals in stages this import's mapping does not name: "
        f"{shown}{also}; its stages are {list(stages.all_stages)}. Nothing was written. If "
        "this is another CRM's or company's export, import it under its own name "
        "(--dataset NAME); if the stages were renamed, import the dataset anew from an export "
        "that holds every deal (--replace)"
    )


#: The most ids the note on stored open deals an export leaves out names.
SKIPPED_SHOWN = 5


def skipped_open_note(conn: Connection, dataset: str, skipped: set[str]) -> str | None:
    """Said where rows a mapping's `skip_rows` or `keep_rows` left out are deals the dataset
    holds open (a deal deleted in the CRM since the last export, Pipedrive's "Deleted"): an
    import never removes a stored deal, so each stays in the open pipeline, the forecast and
    the at-risk list until taken out."""
    if not skipped:
        return None
    table = store.opportunities
    open_ids: list[str] = []
    listed = sorted(skipped)
    for at in range(0, len(listed), 500):  # under SQLite's limit of bound parameters
        query = select(table.c.id).where(
            table.c.dataset == dataset,
            table.c.status == "open",
            table.c.id.in_(listed[at : at + 500]),
        )
        open_ids += [str(i) for i in conn.execute(query).scalars()]
    if not open_ids:
        return None
    open_ids.sort()
    shown = ", ".join(repr(i) for i in open_ids[:SKIPPED_SHOWN])
    more = " …" if len(open_ids) > SKIPPED_SHOWN else ""
    return (
        f"{len(open_ids):,} deal(s) this export's rules leave out (skip_rows, keep_rows) are "
        f"stored open in dataset {dataset!r} ({shown}{more}): an import removes no deal, so "
        "they stay in the open pipeline, the forecast and the at-risk list; `DELETE "
        "/v1/opportunities/{id}` takes one out (--replace with this export takes them all, and "
        "the stage history earlier exports built with them)"
    )
