"""Loading the models for serving against a tracking server that is away, slow or not there.

The server here is a stub on 127.0.0.1 that counts the requests it gets: `silent`, it takes each
request and never answers (a black hole); otherwise it answers every request, after `delay`
seconds, as MLflow does when no such model is registered. Nothing here asserts how fast a load
is: the requests counted say whether the registry was waited on again, and the problems say why
it gave up.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from forecast import scoring
from forecast.modeling import registry
from forecast.modeling.lead_fitting import train_leads
from forecast.settings import Settings
from tests.forecast import synthetic


class RegistryStub:
    """A tracking server on 127.0.0.1: silent (never answers) or answering "no such model"."""

    def __init__(self, silent: bool = True, delay: float = 0.0) -> None:
        self.silent = silent
        self.delay = delay
        self.requests = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> RegistryStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                with stub._lock:
                    stub.requests += 1
                if stub.silent:
                    stub._stop.wait(60)  # hold the request open, answer nothing
                    return
                time.sleep(stub.delay)
                body = json.dumps(
                    {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no such model"}
                ).encode()
                self.send_response(404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        return Handler


@pytest.fixture
def silent() -> Iterator[RegistryStub]:
    with RegistryStub(silent=True) as stub:
        yield stub


def _settings(tmp_path: Path, uri: str | None, **extra: object) -> Settings:
    given: dict[str, object] = {"mlflow_timeout_seconds": 1.0, "mlflow_max_retries": 0, **extra}
    return Settings(state_dir=tmp_path / "state", mlflow_tracking_uri=uri, **given)  # type: ignore[arg-type]


REGISTRY_DOWN = [f"leads: {scoring.REGISTRY_DOWN}", f"deals: {scoring.REGISTRY_DOWN}"]


# --- a registry that does not answer ------------------------------------------------------------


def test_a_registry_that_never_answers_is_waited_on_once_per_load(tmp_path, silent, sqlite_engine):
    settings = _settings(tmp_path, silent.uri)
    models = scoring.load_model_set(settings, sqlite_engine)
    assert silent.requests == 1  # leads timed out; deals were not asked again
    assert models.degraded == REGISTRY_DOWN
    said = " ".join(models.problems)
    assert "read timeout=1" in said  # the timeout of the settings, not MLflow's 120 s
    assert silent.uri in said  # the details name the server (shown only with a viewer's key)


@pytest.mark.parametrize("retries", [0, 1])
def test_a_failed_call_is_repeated_exactly_as_often_as_the_retries_setting_says(
    tmp_path, silent, sqlite_engine, retries
):
    settings = _settings(tmp_path, silent.uri, mlflow_max_retries=retries)
    models = scoring.load_model_set(settings, sqlite_engine)
    assert silent.requests == retries + 1
    assert models.degraded == REGISTRY_DOWN


def test_a_slow_registry_is_not_asked_again_once_the_load_deadline_has_passed(
    tmp_path, sqlite_engine
):
    # Each answer takes 0.5 s, within the 1 s a call may take (MLflow reads whole seconds), but
    # the load's deadline is VISIT_CALLS x 0.05 s = 0.3 s: after the first answer, no call.
    with RegistryStub(silent=False, delay=0.5) as slow:
        settings = _settings(tmp_path, slow.uri, mlflow_timeout_seconds=0.05)
        models = scoring.load_model_set(settings, sqlite_engine)
    assert slow.requests == 1
    assert models.degraded == [f"deals: {scoring.REGISTRY_DOWN}"]  # leads: "no champion"
    assert any("did not answer within 0.3 s" in p for p in models.problems)


def test_a_registry_that_answers_with_no_champion_is_no_degradation(tmp_path, sqlite_engine):
    with RegistryStub(silent=False) as empty:
        models = scoring.load_model_set(_settings(tmp_path, empty.uri), sqlite_engine)
    assert empty.requests == 2  # one question per kind: is there such a model?
    assert models.degraded == []


# --- a local copy while the registry is away ----------------------------------------------------


def test_the_local_copy_serves_and_the_silent_registry_is_asked_once(
    tmp_path, silent, sqlite_engine
):
    tracked = _settings(
        tmp_path, f"sqlite:///{tmp_path / 'mlflow.db'}", lgbm_threads=2, min_converted_leads=50
    )
    trained = train_leads(
        synthetic.leads(1200), leak_columns=["Tags"], cross_validate=False, settings=tracked
    )
    registry.log_training(trained, tracked)
    assert registry.load_champion("leads", tracked).source == "registry"  # the local copy made

    away = tracked.model_copy(update={"mlflow_tracking_uri": silent.uri})
    models = scoring.load_model_set(away, sqlite_engine)
    assert models.lead is not None and models.lead.source == "local copy"
    assert models.lead.version == "1"
    assert silent.requests == 1  # no second wait for the details, none for deals
    assert models.degraded == [f"deals: {scoring.REGISTRY_DOWN}"]
    assert any(p.startswith("leads: serving the local copy v1") for p in models.problems)


# --- a tracking store that is not there ---------------------------------------------------------


def _missing_stores(tmp_path: Path) -> dict[str, tuple[str, Path]]:
    (tmp_path / "empty-folder").mkdir()
    (tmp_path / "empty.db").touch()
    return {
        "sqlite file in a new folder": (
            f"sqlite:///{tmp_path / 'new' / 'mlflow.db'}",
            tmp_path / "new",
        ),
        "empty sqlite file": (f"sqlite:///{tmp_path / 'empty.db'}", tmp_path / "empty.db"),
        "empty folder": ((tmp_path / "empty-folder").as_uri(), tmp_path / "empty-folder"),
    }


@pytest.mark.parametrize(
    "case", ["sqlite file in a new folder", "empty sqlite file", "empty folder"]
)
def test_a_tracking_store_named_in_the_settings_that_is_not_there_is_not_made(
    tmp_path, sqlite_engine, case
):
    uri, path = _missing_stores(tmp_path)[case]
    models = scoring.load_model_set(_settings(tmp_path, uri), sqlite_engine)
    assert models.degraded == REGISTRY_DOWN
    assert any("does not exist or is empty" in p for p in models.problems)
    if path.suffix == ".db":
        assert path.stat().st_size == 0
    elif case == "empty folder":
        assert list(path.iterdir()) == []
    else:
        assert not path.exists()


def test_the_default_store_not_made_yet_means_nothing_was_trained_here(tmp_path, sqlite_engine):
    settings = _settings(tmp_path, None)
    models = scoring.load_model_set(settings, sqlite_engine)
    assert models.degraded == []
    assert not (settings.state_dir / "mlflow.db").exists()
