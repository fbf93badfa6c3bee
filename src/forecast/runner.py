"""Where independent pieces of work run: in this process, or as tasks on a Dask cluster.

Batch scoring and backtests split their work into parts (partitions of rows, groups of origins)
that are computed by the same functions wherever they run; only the map differs. `runner(None)`
calls each function at once, in order, in this process; `runner(client)` submits it to the
cluster, where data shared by every part (a history, the models) is sent to each worker once and
a part's inputs may be the handles of earlier parts (the scheduler resolves them on the worker).

Callers write one code path against `Runner`: `share` what every part reads, `submit` parts,
read `results` in submission order. In process a "handle" is the value itself, so nothing here
costs anything without a cluster, and nothing imports Dask.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from distributed import Client

#: Held by a part while it reads an object shared with the other parts of its worker process
#: (a scattered `DealHistory` keeps caches it fills as it is read): a worker started with
#: several threads then runs such parts one at a time, as its threads would only share the GIL.
SHARED_STATE = threading.Lock()


class Runner(Protocol):
    """Runs parts of one job; `where` says in words where (for reports)."""

    where: str

    def share(self, value: Any) -> Any:
        """What every part reads, sent once to each worker (in process: the value)."""
        ...

    def put(self, values: list[Any]) -> list[Any]:
        """Parts' own inputs, spread over the workers (in process: the values)."""
        ...

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """`fn(*args, **kwargs)`: its result in process, a future of it on a cluster."""
        ...

    def results(self, handles: Iterable[Any]) -> Iterator[Any]:
        """The results of `handles`, in their order, each released once read."""
        ...

    def map(self, fn: Callable[..., Any], items: list[Any], *args: Any) -> Iterator[Any]:
        """`fn(item, *args)` for each item, in order (in process: one at a time, as read)."""
        ...


class InProcess:
    """Every part computed at once, in order, in this process."""

    where = "in process"

    def share(self, value: Any) -> Any:
        return value

    def put(self, values: list[Any]) -> list[Any]:
        return values

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    def results(self, handles: Iterable[Any]) -> Iterator[Any]:
        yield from handles

    def map(self, fn: Callable[..., Any], items: list[Any], *args: Any) -> Iterator[Any]:
        return (fn(item, *args) for item in items)


class OnCluster:
    """Parts as Dask tasks; what is shared is scattered once, to every worker."""

    def __init__(self, client: Client) -> None:
        self.client = client
        workers = len(client.scheduler_info().get("workers", {}))
        self.where = f"on a Dask cluster of {workers} worker{'s' if workers != 1 else ''}"

    def share(self, value: Any) -> Any:
        return self.client.scatter(value, broadcast=True, hash=False)

    def put(self, values: list[Any]) -> list[Any]:
        return list(self.client.scatter(values, hash=False)) if values else []

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        # Not pure: two parts with equal inputs are still two parts (and no key hashing of
        # large arguments). Earlier submissions run first, so results come back in order.
        return self.client.submit(fn, *args, pure=False, **kwargs)

    def results(self, handles: Iterable[Any]) -> Iterator[Any]:
        for future in handles:
            value = future.result()
            future.release()
            yield value

    def map(self, fn: Callable[..., Any], items: list[Any], *args: Any) -> Iterator[Any]:
        return self.results([self.submit(fn, item, *args) for item in self.put(items)])


def runner(client: Client | None) -> Runner:
    """In process without a client, else on its cluster (`forecast.cluster.dask_client`)."""
    return InProcess() if client is None else OnCluster(client)
