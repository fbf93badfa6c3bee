"""The real service as a separate process, for tests that must kill it: `forecast serve` and
`forecast import` started as subprocesses on a given store, and fresh PostgreSQL databases.

Each subprocess is the leader of its own process group, so a kill reaches every process it
started (uvicorn's workers too) and nothing else. The subprocesses run in the test's temporary
folder, so a developer's `.env` never points them at another store.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from tests.conftest import PG_ADMIN_URL

#: How long a cold start may take (imports, migrations, MLflow's first database, the models).
START_SECONDS = 120.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def service_env(state_dir: Path, database_url: str | None) -> dict[str, str]:
    """This process's environment with the store pointed at `state_dir` / `database_url`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORECAST_")}
    env["FORECAST_STATE_DIR"] = str(state_dir)
    env["FORECAST_LOG_LEVEL"] = "WARNING"
    if database_url:
        env["FORECAST_DATABASE_URL"] = database_url
    return env


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "training.cli", *args]


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the process group led by `proc` (one of ours), then reap it."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=30)


class LiveServer:
    """`forecast serve` on a free loopback port, on the store the environment names."""

    def __init__(self, env: dict[str, str], workdir: Path, name: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"{name}.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                _cli("serve", "--port", str(self.port)),
                env=env,
                cwd=workdir,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self) -> None:
        """Return once /healthz answers; fail with the server's log if it never does."""
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the server exited ({self.proc.returncode}):\n{self.tail()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.kill()
        raise AssertionError(f"the server did not start in {START_SECONDS:.0f} s:\n{self.tail()}")

    def kill(self) -> None:
        """kill -9: no shutdown, no flush, no goodbye."""
        _kill_group(self.proc)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self, lines: int = 40) -> str:
        text_ = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text_.splitlines()[-lines:])


def start_import(env: dict[str, str], workdir: Path, folder: Path) -> subprocess.Popen:
    """`forecast import <folder>` in the background (its output in workdir/import.log)."""
    with (workdir / "import.log").open("ab") as out:
        return subprocess.Popen(
            _cli("import", str(folder), "--json"),
            env=env,
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def kill_import(proc: subprocess.Popen) -> None:
    _kill_group(proc)


def run_import(env: dict[str, str], workdir: Path, folder: Path) -> None:
    """`forecast import <folder>` to the end; fails the test if the import fails."""
    proc = start_import(env, workdir, folder)
    code = proc.wait(timeout=300)
    log = (workdir / "import.log").read_text(errors="replace")
    assert code == 0, f"forecast import exited {code}:\n{log[-3000:]}"


def postgres_available() -> str | None:
    """None when PostgreSQL answers at PG_ADMIN_URL, else why not."""
    admin = create_engine(PG_ADMIN_URL)
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
        return None
    except Exception as exc:  # noqa: BLE001 - any failure to connect means "no server here"
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc.__class__.__name__}"
    finally:
        admin.dispose()


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped afterwards."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"forecast_kill_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
