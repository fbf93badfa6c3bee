"""Where independent pieces of work run: in this process, or as tasks on a Dask cluster.

Batch scoring and backtests split their work into parts (partitions of rows, groups of origins)
that are computed by the same functions wherever they run; only the map differs. `runner(None)`
calls each function at once, in order, in this process; `runner(client)` submits it to the
cluster, where data shared by every part (a history, the models) is sent to each worker once and
a part's inputs may be the handles of earlier parts (the scheduler resolves them on the worker).

Callers write one code path against `Runner`: `share` what every part reads, `submit` parts,
read `results` in submission order. In process a "handle" is the value itself, so nothing here
costs anything without a cluster, and nothing imports Dask.

What is shared travels as pickled bytes and is unpickled once per worker process into a small
cache (`_unpack`): the parts then read a copy of their own process, which they may fill caches
in (a `DealHistory` does, so may a model), while Dask only ever copies the bytes between
workers; a live object being serialised while a task changes it would fail. What is too large
to send (a dataset at scale) is shared as a reader instead (`share_read`): each worker reads the
value from where it is stored, once, and the caller's process never holds it.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from distributed import Client

#: Held by a part while it reads an object shared with the other parts of its worker process
#: (a scattered `DealHistory` keeps caches it fills as it is read): a worker started with
#: several threads then runs such parts one at a time, as its threads would only share the GIL.
SHARED_STATE = threading.Lock()
#: Shared values unpickled in this (worker) process, newest last; a few are kept.
_UNPACKED: dict[str, Any] = {}
_UNPACKED_KEPT = 4
_UNPACK_LOCK = threading.Lock()


class Reader(Protocol):
    """Something small to send that gives a large value where it is read (a dataset's slices)."""

    def read(self) -> Any: ...


class Runner(Protocol):
    """Runs parts of one job; `where` says in words where (for reports), `workers` how many
    parts can run at once."""

    where: str
    workers: int

    def share(self, value: Any) -> Any:
        """What every part reads, sent once to each worker (in process: the value)."""
        ...

    def share_read(self, reader: Reader) -> Any:
        """`reader.read()` for every part, read once by each worker from where it is stored
        (in process: read here)."""
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
    workers = 1

    def share(self, value: Any) -> Any:
        return value

    def share_read(self, reader: Reader) -> Any:
        return reader.read()

    def put(self, values: list[Any]) -> list[Any]:
        return values

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    def results(self, handles: Iterable[Any]) -> Iterator[Any]:
        yield from handles

    def map(self, fn: Callable[..., Any], items: list[Any], *args: Any) -> Iterator[Any]:
        return (fn(item, *args) for item in items)


@dataclass(frozen=True)
class _Packed:
    """A shared value as bytes (immutable: safe for Dask to copy between workers)."""

    key: str
    data: bytes


@dataclass(frozen=True)
class _Deferred:
    """A shared value as its reader (`Runner.share_read`): read on each worker that needs it."""

    key: str
    reader: Reader


def _unpack(value: Any) -> Any:
    """A shared value as this process's own object, unpickled (or read) the first time it is
    read."""
    if not isinstance(value, _Packed | _Deferred):
        return value
    with _UNPACK_LOCK:
        if value.key not in _UNPACKED:
            import cloudpickle

            while len(_UNPACKED) >= _UNPACKED_KEPT:
                _UNPACKED.pop(next(iter(_UNPACKED)))
            if isinstance(value, _Deferred):
                _UNPACKED[value.key] = value.reader.read()
            else:
                _UNPACKED[value.key] = cloudpickle.loads(value.data)
        return _UNPACKED[value.key]


def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`fn` on a worker, with shared values unpacked."""
    return fn(*(_unpack(a) for a in args), **{k: _unpack(v) for k, v in kwargs.items()})


class OnCluster:
    """Parts as Dask tasks; what is shared is scattered once, to every worker."""

    def __init__(self, client: Client) -> None:
        self.client = client
        info = client.scheduler_info().get("workers", {})
        self.workers = sum(int(w.get("nthreads", 1)) for w in info.values()) or 1
        self.where = f"on a Dask cluster of {len(info)} worker{'s' if len(info) != 1 else ''}"

    def share(self, value: Any) -> Any:
        import cloudpickle

        packed = _Packed(uuid.uuid4().hex, cloudpickle.dumps(value))
        return self.client.scatter(packed, broadcast=True, hash=False)

    def share_read(self, reader: Reader) -> Any:
        return self.client.scatter(_Deferred(uuid.uuid4().hex, reader), broadcast=True, hash=False)

    def put(self, values: list[Any]) -> list[Any]:
        return list(self.client.scatter(values, hash=False)) if values else []

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        # Not pure: two parts with equal inputs are still two parts (and no key hashing of
        # large arguments). Earlier submissions run first, so results come back in order.
        return self.client.submit(_call, fn, *args, pure=False, **kwargs)

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
