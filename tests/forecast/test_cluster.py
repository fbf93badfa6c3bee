"""The engine setting: `--cluster` picks in-process, a LocalCluster or an existing scheduler."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from forecast.cluster import dask_client, resolve
from forecast.errors import InvalidInput
from forecast.settings import get_settings


@pytest.fixture
def scheduler_setting(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Settings read afresh, with FORECAST_DASK_SCHEDULER unset unless a test sets it."""
    monkeypatch.delenv("FORECAST_DASK_SCHEDULER", raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def _set(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    get_settings.cache_clear()


def test_without_option_or_setting_everything_runs_in_process(scheduler_setting) -> None:
    assert resolve(None) is None
    with dask_client(None) as client:
        assert client is None


def test_the_option_names_local_or_a_scheduler_address(scheduler_setting) -> None:
    assert resolve("local") == "local"
    assert resolve("  LOCAL ") == "local"
    assert resolve("tcp://10.0.0.5:8786") == "tcp://10.0.0.5:8786"


def test_the_setting_is_used_when_the_option_is_not_given(scheduler_setting) -> None:
    _set(scheduler_setting, "FORECAST_DASK_SCHEDULER", "tcp://10.0.0.5:8786")
    assert resolve(None) == "tcp://10.0.0.5:8786"


def test_the_option_wins_over_the_setting_and_off_turns_it_off(scheduler_setting) -> None:
    _set(scheduler_setting, "FORECAST_DASK_SCHEDULER", "tcp://10.0.0.5:8786")
    assert resolve("local") == "local"
    for off in ("off", "none", ""):
        assert resolve(off) is None


def test_an_address_without_a_protocol_is_refused_naming_the_option(scheduler_setting) -> None:
    with pytest.raises(InvalidInput, match="--cluster") as err:
        resolve("10.0.0.5:8786")
    assert "tcp://HOST:8786" in str(err.value)


def test_a_bad_setting_is_refused_naming_it(scheduler_setting) -> None:
    _set(scheduler_setting, "FORECAST_DASK_SCHEDULER", "somewhere")
    with pytest.raises(InvalidInput, match="FORECAST_DASK_SCHEDULER"):
        resolve(None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_address_where_no_scheduler_answers_is_invalid_input(scheduler_setting) -> None:
    address = f"tcp://127.0.0.1:{_free_port()}"
    with pytest.raises(InvalidInput, match="--cluster") as err:
        with dask_client(address, timeout=1.0):
            pass
    assert address in str(err.value)


def test_an_unknown_protocol_is_invalid_input_not_a_crash(scheduler_setting) -> None:
    with pytest.raises(InvalidInput, match="--cluster"):
        with dask_client("foo://10.0.0.5:8786", timeout=1.0):
            pass


@pytest.mark.slow
def test_local_starts_worker_processes_for_the_command_and_stops_them(scheduler_setting) -> None:
    _set(scheduler_setting, "FORECAST_DASK_LOCAL_WORKERS", "1")
    with dask_client("local") as client:
        assert client is not None
        assert client.submit(sum, [1, 2, 3]).result() == 6
        workers = client.scheduler_info(n_workers=-1)["workers"]
        assert len(workers) == 1
        cluster = client.cluster
    assert cluster is not None and cluster.status.name == "closed"
