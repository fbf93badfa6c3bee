"""Per-request cost of the API's scoring route against the framework's floor, in one process.

Both apps are called as ASGI applications, with no network and no server: a scope, a `receive`
that hands over the body and a `send` that keeps the answer. Rounds alternate between this
service's `POST /v1/leads/score` (a fitted lead model, reasons, the key check, the score log,
metrics, the request middleware) and `bench/floor_app.py`'s `POST /score` (the same body parsed,
a constant returned), so both see the same load on a shared machine. Ours is answered by the
request middleware's lead lane (`serving/lead_lane.py`) once the key is remembered: the counts
printed at the end say how many requests took it and how many the route answered. Prints µs
per request for each (median over rounds) and floor/ours, the share of the floor's requests/s we
reach, against the issue's 70% goal. A real server adds its own cost to both, so its ratio is
closer to 1.

    .venv/bin/python bench/request_overhead_bench.py [--rounds 15] [--calls 1000] [--cpu 1]
        [--log-level WARNING] [--profile FILE] [--clock wall|cpu]

`--log-level INFO` keeps the per-request access log (written to /dev/null here); the default
WARNING is how bench/scoring_bench.py runs the server.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
GOAL = 0.70
#: "wall" (perf_counter) or "cpu" (this process's CPU time, all its threads: the score log's
#: writer included; steadier than wall time on a machine whose cores others take).
CLOCK = "wall"

Asgi = Callable[[dict, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Any]


def call(app: Asgi, path: str, body: bytes, headers: list[tuple[bytes, bytes]]) -> Any:
    """One POST as a server would make it; returns a coroutine giving (status, body)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *headers,
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }

    async def run() -> tuple[int, bytes]:
        sent = False
        status = 0
        chunks: list[bytes] = []

        async def receive() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # the client never leaves
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await app(dict(scope), receive, send)
        return status, b"".join(chunks)

    return run


async def per_request_us(request: Callable[[], Awaitable[tuple[int, bytes]]], calls: int) -> float:
    """µs per request, by the clock `CLOCK` names (wall, or this process's CPU time)."""
    clock = time.process_time if CLOCK == "cpu" else time.perf_counter
    start = clock()
    for _ in range(calls):
        await request()
    return (clock() - start) / calls * 1e6


def build_app(state: Path, log_level: str) -> tuple[Any, str, bytes, str]:
    """Our app with a lead model fitted here, a scorer key, and one request body."""
    from forecast import features, keys, scoring
    from forecast.data import store
    from forecast.data.generator import generate_leads
    from forecast.modeling.estimators import BoostedClassifier
    from forecast.modeling.scorers import select_scorer
    from forecast.settings import Settings
    from serving.app import create_app

    settings = Settings(
        state_dir=state,
        log_level=log_level,
        track_every_hours=0,
        warm_up_on_start=False,
        forecast_processes=False,
    )
    leads = generate_leads(3000, seed=1)
    X, _ = features.prepare_leads(leads, ["Tags"])
    model = BoostedClassifier(random_state=1).fit(X, features.lead_labels(leads))
    app = create_app(settings)
    app.state.models.lead = scoring.Served(scoring.LEAD, select_scorer(model), "1", "registry")
    with store.get_engine(settings).begin() as conn:
        _, key = keys.create_key(conn, "scorer", "bench")
    fields = X.iloc[0].astype(object).where(X.iloc[0].notna(), None).to_dict()
    body = json.dumps({"id": "bench", "fields": fields}, default=str).encode()
    return app, "/v1/leads/score", body, key


async def measure(args: argparse.Namespace) -> None:
    state = Path(tempfile.mkdtemp(prefix="request-overhead-"))
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{state / 'mlflow.db'}"
    ours, path, body, key = build_app(state, args.log_level)
    # The access log, when on, goes nowhere: the bench times writing it, not a terminal.
    for handler in logging.getLogger("forecast").handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the run
    sys.path.insert(0, str(REPO))
    from bench.floor_app import app as floor

    lifespan: AbstractAsyncContextManager = ours.router.lifespan_context(ours)
    async with lifespan:
        ours_call = call(ours, path, body, [(b"x-api-key", key.encode())])
        floor_call = call(floor, "/score", body, [])
        for name, request in (("ours", ours_call), ("floor", floor_call)):
            status, answer = await request()
            if status != 200:
                raise SystemExit(f"{name}: HTTP {status}: {answer[:300]!r}")
        for _ in range(3):  # warm-up: caches, the key's memory, first-call paths
            await per_request_us(ours_call, 200)
            await per_request_us(floor_call, 200)
        if args.profile:
            profile = cProfile.Profile()
            profile.enable()
            await per_request_us(ours_call, args.calls)
            profile.disable()
            profile.dump_stats(args.profile)
            print(f"profile of {args.calls} requests to ours: {args.profile}")
        times: dict[str, list[float]] = {"ours": [], "floor": []}
        for i in range(args.rounds):
            pair = [("ours", ours_call), ("floor", floor_call)]
            for name, request in pair if i % 2 == 0 else pair[::-1]:
                times[name].append(await per_request_us(request, args.calls))
        recorder = ours.state.recorder
        lane = next((m.kwargs["lane"] for m in ours.user_middleware if m.kwargs.get("lane")), None)
    ours_us, floor_us = (statistics.median(times[n]) for n in ("ours", "floor"))
    ratios = [f / o for f, o in zip(times["floor"], times["ours"], strict=True)]
    print(
        f"{args.rounds} rounds of {args.calls} requests each, alternating, one process "
        f"(CPU {args.cpu}, load average {os.getloadavg()[0]:.2f}, log level {args.log_level}, "
        f"{args.clock} clock)"
    )
    print(f"{'app':<44}{'median µs/req':>14}{'min':>8}{'max':>8}")
    rows = ((f"ours   POST {path}", "ours"), ("floor  POST /score (bench/floor_app.py)", "floor"))
    for label, name in rows:
        values = times[name]
        print(
            f"{label:<44}{statistics.median(values):>14.1f}{min(values):>8.1f}{max(values):>8.1f}"
        )
    share = statistics.median(ratios)
    print(
        f"floor/ours: {floor_us / ours_us:.0%} of the floor's requests/s from the medians, "
        f"{share:.0%} median of per-round ratios (goal ≥ {GOAL:.0%}: "
        f"{'met' if share >= GOAL else 'NOT met'}); ours costs {ours_us - floor_us:.0f} µs more"
    )
    print(f"score log rows written: {recorder.written}, dropped: {recorder.dropped}")
    if lane is not None:
        print(
            f"lead lane (serving/lead_lane.py): {lane.answered} answered, "
            f"{lane.handed_over} handed to the route"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=1000, help="Requests per app per round")
    parser.add_argument("--cpu", type=int, default=1, help="The one CPU to run on")
    parser.add_argument("--log-level", default="WARNING")
    parser.add_argument("--profile", help="Also write a cProfile of ours to this file")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    args = parser.parse_args()
    global CLOCK
    CLOCK = args.clock
    os.sched_setaffinity(0, {args.cpu})  # before numpy and LightGBM size their thread pools
    sys.path.insert(0, str(REPO))
    asyncio.run(measure(args))


if __name__ == "__main__":
    main()
