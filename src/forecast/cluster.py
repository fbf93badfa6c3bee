"""The compute engine: in-process (default) or a Dask cluster, chosen in one place.

`--cluster tcp://HOST:8786` (or `FORECAST_DASK_SCHEDULER`) points training, batch scoring and
backtests at an existing Dask scheduler; `--cluster local` starts a `LocalCluster` of worker
processes on this machine for the duration of the command. Without either, nothing imports Dask
and everything runs in this process as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from forecast.errors import InvalidInput
from forecast.settings import get_settings

if TYPE_CHECKING:
    from distributed import Client

LOCAL = "local"
#: How long to wait for a scheduler to answer before saying none did.
CONNECT_TIMEOUT_SECONDS = 10.0


def resolve(cluster: str | None) -> str | None:
    """The scheduler address asked for: the command's option, else the setting, else none."""
    address = cluster if cluster is not None else get_settings().dask_scheduler
    if address is None or not address.strip() or address.strip().lower() in {"none", "off"}:
        return None
    address = address.strip()
    if address.lower() == LOCAL:
        return LOCAL
    if "://" not in address:
        raise InvalidInput(
            f"--cluster / FORECAST_DASK_SCHEDULER: {address!r} is neither 'local' nor a scheduler "
            "address such as tcp://HOST:8786"
        )
    return address


def _stdout_to_stderr() -> None:
    """In a local worker process: what libraries print (LightGBM's network) goes to stderr, so
    the command's own stdout (`--json`) stays clean; the workers share this terminal."""
    import os
    import sys

    sys.stdout.flush()
    os.dup2(2, 1)


@contextmanager
def dask_client(
    cluster: str | None, *, timeout: float = CONNECT_TIMEOUT_SECONDS
) -> Iterator[Client | None]:
    """A Dask client for the run, or None for in-process; a local cluster is closed afterwards.

    An address where no scheduler answers within `timeout` seconds, or of a protocol Dask does
    not know, is `InvalidInput` naming the option."""
    address = resolve(cluster)
    if address is None:
        yield None
        return
    from distributed import Client, LocalCluster

    if address == LOCAL:
        workers = get_settings().dask_local_workers
        with (
            LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            ) as local,
            Client(local) as client,
        ):
            client.run(_stdout_to_stderr)
            yield client
        return
    try:
        client = Client(address, timeout=f"{timeout}s")
    except (OSError, ValueError) as exc:
        raise InvalidInput(
            f"--cluster / FORECAST_DASK_SCHEDULER: no Dask scheduler answered at {address} ({exc})"
        ) from exc
    with client:
        yield client
