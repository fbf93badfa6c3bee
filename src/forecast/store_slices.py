"""A stored dataset read by partition on a Dask cluster: each worker reads its slices of deals
(an id range) and their stage and field history from the database itself, where a task needs
them, and keeps none.

The id ranges are cut in the database's own order of ids (one `OFFSET` look-up per cut on the
deals' primary key), so slices cover every deal once whatever the database's collation; this
process then gets what `parquet_export.read_slices` gives of any slices: the leak check's
counts, the fingerprint from the slices' row hashes and three columns of the deals. Without a
cluster, a stored dataset is read whole (`history.load_deal_history`), as before. A stored
leads dataset is cut the same way (`lead_slices`), for batch scoring on the workers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from operator import methodcaller
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import Engine, Table, func, select

from forecast.data.dataset_options import DatasetOptions
from forecast.data.store_reads import IdRange
from forecast.data.tables import leads, opportunities
from forecast.history import DealHistory, load_deal_history
from forecast.parquet_export import HistorySlice, PartitionedExport, read_slices, slices_like

if TYPE_CHECKING:
    from distributed import Client


@dataclass(frozen=True)
class StoreSlice(HistorySlice):
    """The deals of `dataset` with ids in `ids`, read from the database at `url`."""

    url: str
    dataset: str
    ids: IdRange
    text: frozenset[str] = frozenset()  # features that are text in the whole dataset

    def read_whole(self) -> DealHistory:
        return load_deal_history(
            _worker_engine(self.url), self.dataset, check_leaks=False, ids=self.ids, text=self.text
        )

    def attribute_kinds(self) -> dict[str, bool | None]:
        """On a worker: which of the slice's features hold only numbers (`_typed_as_whole`)."""
        from forecast.data.store_reads import attribute_kinds

        return attribute_kinds(_worker_engine(self.url), self.dataset, self.ids)


def _worker_engine(url: str) -> Engine:
    """On a worker: the store at `url`, read only (the command's process migrated it: a worker
    never does)."""
    from forecast.data.store import cached_engine
    from forecast.settings import get_settings

    return cached_engine(url, get_settings().sqlite_busy_seconds, migrated=False)


def _typed_as_whole(client: Client, slices: list[Any]) -> list[Any]:
    """`slices` each told which of their attributes are text in the whole dataset: where one
    slice holds text in an attribute that another holds only numbers in, a whole read makes it
    text, and so must every slice (`attributes.numeric_columns`, said by each on a worker)."""
    kinds = client.gather([client.submit(methodcaller("attribute_kinds"), p) for p in slices])
    text = frozenset(c for found in kinds for c, numbers in found.items() if numbers is False)
    return [replace(part, text=text) for part in slices]


@dataclass(frozen=True)
class LeadSlice:
    """The leads of `dataset` with ids in `ids`, read from the database at `url` on a worker,
    their attributes typed as the whole dataset's are (`text`: those that are text there)."""

    url: str
    dataset: str
    ids: IdRange
    text: frozenset[str] = frozenset()

    def attribute_kinds(self) -> dict[str, bool | None]:
        """On a worker: which of the slice's attributes hold only numbers (`_typed_as_whole`)."""
        from forecast.data.attributes import numeric_columns

        raw = self.read(raw=True)
        return numeric_columns(raw.drop(columns=list(_NOT_ATTRIBUTES), errors="ignore"))

    def read(self, *, raw: bool = False) -> pd.DataFrame:
        from forecast.data.store_reads import load_leads

        return load_leads(_worker_engine(self.url), self.dataset, self.ids, text=self.text, raw=raw)


def lead_slices(client: Client, engine: Engine, dataset: str) -> list[LeadSlice]:
    """The stored leads dataset `dataset` as slices read on the cluster's workers, each typed as
    a whole read types the dataset: a first read of each slice says which attributes hold only
    numbers there, and an attribute is text wherever one slice holds text in it."""
    from forecast.dask_rows import partition_count

    with engine.connect() as conn:
        n = conn.execute(select(func.count()).where(leads.c.dataset == dataset)).scalar_one()
    workers = max(1, len(client.scheduler_info(n_workers=-1).get("workers", {})))
    url = engine.url.render_as_string(hide_password=False)
    ranges = id_ranges(engine, dataset, partition_count(n, workers), leads)
    return _typed_as_whole(client, [LeadSlice(url, dataset, ids) for ids in ranges])


#: The columns of a leads read that are not stored attributes.
_NOT_ATTRIBUTES = ("id", "converted", "created_at", "converted_at")


def id_ranges(
    engine: Engine, dataset: str, parts: int, table: Table = opportunities
) -> list[IdRange]:
    """`parts` ranges of about as many deals (or rows of `table`) each, in the database's order
    of ids (the first without a lower end, the last without an upper one)."""
    o = table.c
    with engine.connect() as conn:
        n = conn.execute(select(func.count()).where(o.dataset == dataset)).scalar_one()
        parts = max(1, min(parts, n))
        cuts = [
            conn.execute(
                select(o.id)
                .where(o.dataset == dataset)
                .order_by(o.id)
                .offset(k * n // parts)
                .limit(1)
            ).scalar_one()
            for k in range(1, parts)
        ]
    if n == 0:
        return []
    bounds: list[str | None] = [None, *cuts, None]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def read_store_partitioned(client: Client, engine: Engine, dataset: str) -> PartitionedExport:
    """The stored opportunities dataset `dataset` read by partition on the cluster (see the
    module docstring); the workers connect to the store themselves."""
    from forecast.dask_rows import partition_count
    from forecast.data import store

    with engine.connect() as conn:
        stages = store.dataset_stages(conn, dataset)
        options = DatasetOptions.from_dict(store.get_dataset(conn, dataset)["options"] or {})
        n = conn.execute(
            select(func.count()).where(opportunities.c.dataset == dataset)
        ).scalar_one()
    workers = max(1, len(client.scheduler_info(n_workers=-1).get("workers", {})))
    url = engine.url.render_as_string(hide_password=False)
    ranges = id_ranges(engine, dataset, partition_count(n, workers))
    slices = [StoreSlice(url, dataset, ids) for ids in ranges]
    if options.features:  # the dataset's own columns: typed as a whole read types them
        slices = _typed_as_whole(client, slices)
    return read_slices(client, slices, slices_like(stages, dataset, options))
