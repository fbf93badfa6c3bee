"""The server keeps the forecast history: `forecast track` on the default deal dataset every
`track_every_hours` (the first run `track_first_after_seconds` after start-up), and again
`track_after_change_seconds` after a CRM push, so the stored forecast the API and the dashboard
serve follows the data.

Each run is a child process at a lower CPU priority, as `forecast track` from cron would be: the
models it fits never hold the server's GIL while a CRM waits for a score, and its memory goes
back to the system when it ends. A run that fails is logged and retried at the next tick; the
server carries on. `app.state.tracking` says when it last ran and how it went
(`GET /v1/forecast/history` shows it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from forecast.data import store
from forecast.settings import Settings

log = logging.getLogger("forecast.serving.tracking")
#: A run that takes longer is stopped (and logged): the next tick starts afresh.
RUN_TIMEOUT_SECONDS = 3600


@dataclass
class TrackingState:
    """What the scheduler last did, and whether the data changed since."""

    every_hours: float
    runs: int = 0  # started
    completed: int = 0  # ended, well or not
    last_started: datetime | None = None
    last_ok: bool | None = None
    last_message: str = ""
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    loop: asyncio.AbstractEventLoop | None = None  # the scheduler's, set when it starts
    last_retrain: str = ""  # what the last `retrain --if-needed` decided, when enabled


def data_changed(state: TrackingState | None) -> None:
    """A CRM push stored new data: track again soon (`track_after_change_seconds`), so what
    the API and the dashboard serve follows it. Safe from a route's worker thread."""
    if state is not None and state.loop is not None:
        state.loop.call_soon_threadsafe(state.changed.set)


def commands(settings: Settings, datasets: list[str]) -> list[list[str]]:
    """`forecast track` for the default deal dataset, else for each deal dataset of the store
    (`datasets`: each has its own forecast), run by this interpreter."""
    chosen = [settings.deal_dataset] if settings.deal_dataset else datasets
    track = [sys.executable, "-m", "training.cli", "track"]
    return [[*track, "--dataset", name] for name in chosen] or [track]


def retrain_datasets(settings: Settings) -> dict[str, list[str]]:
    """The store's datasets of each model kind: each has its own champion to judge."""
    with store.get_engine(settings).connect() as conn:
        return {
            "deals": store.list_datasets(conn, "opportunities"),
            "leads": store.list_datasets(conn, "leads"),
        }


def retrain_commands(settings: Settings, datasets: dict[str, list[str]]) -> list[list[str]]:
    """`forecast retrain KIND --data DATASET --if-needed` with the settings' thresholds, for each
    dataset of `datasets` (by kind), deals then leads: each decided on its own champion."""
    limits = []
    for option, value in (
        ("--max-age-days", settings.retrain_max_age_days),
        ("--min-auc", settings.retrain_min_auc),
        ("--max-psi", settings.retrain_max_psi),
    ):
        if value is not None:
            limits += [option, str(value)]
    base = [sys.executable, "-m", "training.cli", "retrain"]
    return [
        [*base, kind, "--data", dataset, "--if-needed", *limits, "--json"]
        for kind in ("deals", "leads")
        for dataset in datasets.get(kind, [])
    ]


def child_env(settings: Settings) -> dict[str, str]:
    """The child reads the server's store and MLflow, whatever set them (env or arguments)."""
    env = dict(os.environ)
    env["FORECAST_STATE_DIR"] = str(Path(settings.state_dir).resolve())
    env["FORECAST_DATABASE_URL"] = settings.resolved_database_url
    env["FORECAST_MLFLOW_TRACKING_URI"] = settings.resolved_mlflow_uri
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_root(), env.get("PYTHONPATH", "")]))
    return env


async def run_once(settings: Settings, state: TrackingState) -> None:
    """One tracking run in a child process; its outcome goes to `state` and the log."""
    state.runs += 1
    state.last_started = store.utcnow()
    datasets = (await asyncio.to_thread(retrain_datasets, settings))["deals"]
    said, all_ok = [], True
    for cmd in commands(settings, datasets):
        ok, text = await _child(cmd, settings)
        all_ok &= ok
        said.append(f"{cmd[-1]}: {text}" if "--dataset" in cmd and len(datasets) > 1 else text)
    state.last_ok, state.last_message = all_ok, "; ".join(said)
    state.completed += 1
    (log.info if state.last_ok else log.warning)("forecast tracking: %s", state.last_message)


async def retrain_if_needed(settings: Settings, state: TrackingState) -> bool:
    """`forecast retrain --if-needed` for every deal and lead dataset in child processes (the
    monitoring rule, the same gate, each dataset's own champion); True when a new champion was
    promoted (the caller reloads)."""
    promoted = False
    datasets = await asyncio.to_thread(retrain_datasets, settings)
    for cmd in retrain_commands(settings, datasets):
        ok, text = await _child(cmd, settings, last_line=False)
        try:
            said = json.loads(text) if ok else {}
        except ValueError:
            said = {}
        promoted |= bool((said.get("training") or {}).get("registration", {}).get("promoted"))
        verdict = said.get("decision", {}).get("reasons") or said.get("decision", {}).get("checks")
        state.last_retrain = f"{cmd[4]} of {cmd[6]}: {'; '.join(verdict or [text[-300:]])}"
        (log.info if ok else log.warning)("retrain --if-needed: %s", state.last_retrain)
    return promoted


async def _child(cmd: list[str], settings: Settings, last_line: bool = True) -> tuple[bool, str]:
    """Run a `forecast` command as a nice'd child; (it succeeded, what it said)."""
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        env=child_env(settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=lambda: os.nice(5),
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT_SECONDS)
    except asyncio.CancelledError:  # the server stops: so does the run
        proc.kill()
        await proc.wait()
        raise
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return False, f"stopped after {RUN_TIMEOUT_SECONDS} s"
    ok = proc.returncode == 0
    text = (out if ok else err or out).decode(errors="replace").strip()
    if not last_line:
        return ok, text
    return ok, last_message(text) if text else f"exit {proc.returncode}"


def last_message(text: str) -> str:
    """A command's last message, whole: from its last line that starts an error, else its last
    line (the console wraps a long error over lines, whose last alone is a fragment)."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("error:")]
    return " ".join(line.strip() for line in lines[starts[-1] if starts else -1 :])


async def scheduler(
    settings: Settings,
    state: TrackingState,
    after_run: Callable[[], Awaitable[None]] | None = None,
    reload: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Track now and then every `track_every_hours`, or sooner after a CRM push, until
    cancelled; with `retrain_in_scheduler`, retrain what is due (and `reload` the champions
    when one was promoted); `after_run` follows each run that succeeded (the warm-up)."""
    state.loop = asyncio.get_running_loop()
    await asyncio.sleep(settings.track_first_after_seconds)
    while True:
        state.changed.clear()  # a push from here on is not in this run: it calls for another
        try:
            await run_once(settings, state)
            if settings.retrain_in_scheduler and await retrain_if_needed(settings, state):
                if reload is not None:
                    await reload()
            if state.last_ok and after_run is not None:
                await after_run()
        except Exception as exc:  # never let tracking take the server down
            state.last_ok, state.last_message = False, f"could not start: {exc}"
            log.exception("forecast tracking could not run")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(state.changed.wait(), settings.track_every_hours * 3600)
            # Pushes come in bursts: the ones that follow within this time share the run.
            await asyncio.sleep(settings.track_after_change_seconds)


def _root() -> str:
    """The checkout's root (where `training` lives), for a child started from anywhere."""
    return str(Path(__file__).resolve().parents[1])
