"""Nothing is lost when the server is killed: kill -9 in the middle of a stream of CRM pushes and
an import, restart, send again what got no 2xx, and the store is the one built without the kill.

The stream is fixed by a seed: ~45 deals (new ones, deals of an earlier import and deals of the
import in the stream) pushed one by one or in small batches, each deal's `updated_at` rising,
its stage moving forward, its amount, owner and the rep's call changing, some pushes sent twice,
some deals closing won or lost. The reference applies the stream in order through the app, in
this process, with no kill. The faulty run sends it to `forecast serve` (a subprocess) from
several client threads while `forecast import` runs beside it, kills both with SIGKILL once a
fixed number of pushes are acknowledged (requests still in flight), checks that every
acknowledged push survived, restarts the server on the same store and replays, in the stream's
order, each push that got no 2xx (and the import if it had not finished). The replayed pushes
arrive after newer ones, so this holds only if the store's state does not depend on the order in
which pushes and imports arrive.

The import starts a few calls before the kill, so it is killed before it commits (or, on a fast
machine, has committed). An import holding the store's write lock holds back every push, so a
count of acknowledged pushes cannot stop it half-way; that an import is all or nothing is the
import tests' business.

Runs on SQLite and on PostgreSQL (skipped, saying why, only when no PostgreSQL answers).
"""

from __future__ import annotations

import json
import random
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from forecast import keys
from forecast.data import store
from forecast.data.generator import GeneratedPipeline, generate_pipeline, write_export
from forecast.data.importing import import_export
from forecast.settings import Settings
from tests.e2e.live_server import (
    LiveServer,
    fresh_postgres_database,
    kill_import,
    postgres_available,
    run_import,
    service_env,
    start_import,
)

pytestmark = pytest.mark.slow

SEED = 20_261_202
DATASET = "pipeline"  # the canonical mapping's dataset: the exports' and the pushes'
OPEN = ("Prospecting", "Qualification", "Presentation", "Demonstration", "Closing")
NEW_DEALS = 30  # deals the CRM creates during the stream
PUSHED_OLD_DEALS = 5  # open deals of each export the CRM updates during the stream
LOOK_AHEAD = 16  # how far a batch reaches ahead in time for deals not in it yet
SENDERS = 4  # client threads: several requests are in flight when the server dies
IMPORT_AT = 0.5  # the import starts with this fraction of the calls sent...
KILL_AT = 0.55  # ...and the kill comes once this fraction of them got a 2xx
STREAM_START = datetime(2024, 7, 1, 8, 0)  # after both exports were taken


# --- the stream ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Push:
    """One call of the CRM: a single deal (PUT) or a small batch (POST)."""

    deals: tuple[dict[str, Any], ...]

    def send(self, client: httpx.Client | TestClient) -> httpx.Response:
        if len(self.deals) == 1:
            deal = self.deals[0]
            body = {k: v for k, v in deal.items() if k != "id"}
            return client.put(f"/v1/opportunities/{deal['id']}", json=body)
        return client.post("/v1/opportunities/batch", json={"opportunities": list(self.deals)})


class ImportExport:
    """The import of the second export, at its place in the stream."""


Item = Push | ImportExport


def _iso(ts: datetime | pd.Timestamp) -> str:
    return pd.Timestamp(ts).strftime("%Y-%m-%dT%H:%M:%SZ")


def _state_of(row: pd.Series) -> dict[str, Any]:
    """An exported deal as the CRM would push it (its whole current state)."""
    state: dict[str, Any] = {"id": row["id"]}
    for name in (
        "stage",
        "created_at",
        "amount",
        "list_price",
        "owner",
        "team",
        "region",
        "product",
        "account",
        "sector",
        "rep_probability",
        "forecast_category",
        "expected_close_at",
    ):
        value = row[name]
        if pd.isna(value):
            continue
        if isinstance(value, pd.Timestamp | datetime):
            value = _iso(value)
        elif not isinstance(value, str):
            value = float(value)
        state[name] = value
    return state


def _new_deal(rng: random.Random, i: int, template: pd.DataFrame) -> dict[str, Any]:
    row = template.iloc[rng.randrange(len(template))]
    created = STREAM_START + timedelta(days=rng.randrange(60), seconds=rng.randrange(36_000))
    return {
        **_state_of(row),
        "id": f"P{i:04d}",
        "stage": "Prospecting",
        "created_at": _iso(created),
        "amount": round(rng.uniform(500, 60_000), 2),
        "rep_probability": round(rng.uniform(0.05, 0.5), 2),
        "forecast_category": "Pipeline",
        "expected_close_at": _iso(created + timedelta(days=rng.randrange(30, 120))),
    }


def _deal_pushes(
    rng: random.Random, state: dict[str, Any], first: datetime, owners: list[str]
) -> list[tuple[datetime, dict[str, Any]]]:
    """One deal's pushes, oldest first: each a whole state with a later `updated_at`."""
    out: list[tuple[datetime, dict[str, Any]]] = []
    stage = OPEN.index(state["stage"])
    at = first
    for k in range(rng.randint(3, 11)):
        if k:
            at += timedelta(seconds=rng.randrange(3_600, 6 * 86_400))
            if rng.random() < 0.45 and stage < len(OPEN) - 1:
                stage += 1
            if rng.random() < 0.3:
                state["amount"] = round(state.get("amount", 1_000.0) * rng.uniform(0.8, 1.25), 2)
            if rng.random() < 0.1:
                state["owner"] = rng.choice(owners)
            if rng.random() < 0.25:
                state["rep_probability"] = round(rng.uniform(0.05, 0.95), 2)
                state["forecast_category"] = rng.choice(["Pipeline", "Best Case", "Commit"])
        state["stage"] = OPEN[stage]
        state["updated_at"] = _iso(at)
        out.append((at, dict(state)))
        if rng.random() < 0.1:  # the CRM sends the same state twice
            out.append((at, dict(state)))
    if rng.random() < 0.5:  # the deal closes
        gap = rng.randrange(3_600, 4 * 86_400)
        at = at + timedelta(seconds=gap)
        state["stage"] = "Won" if stage >= 2 and rng.random() < 0.6 else "Lost"
        state["updated_at"] = _iso(at)
        if rng.random() < 0.5:  # recorded a little after it happened
            state["closed_at"] = _iso(at - timedelta(seconds=rng.randrange(gap)))
        out.append((at, dict(state)))
    return out


def _open_deals(pipeline: GeneratedPipeline, n: int, rng: random.Random) -> list[pd.Series]:
    deals = pipeline.opportunities
    open_ = deals[deals["status"] == "open"].sort_values("id")
    return [open_.iloc[i] for i in sorted(rng.sample(range(len(open_)), n))]


def build_stream(base: GeneratedPipeline, later: GeneratedPipeline) -> list[Item]:
    """The CRM's calls in the order it makes them, with the import at its place."""
    rng = random.Random(SEED)
    owners = sorted(base.opportunities["owner"].unique())
    timeline: list[tuple[datetime, str, dict[str, Any]]] = []
    starts = [_new_deal(rng, i, base.opportunities) for i in range(1, NEW_DEALS + 1)]
    olds = [_state_of(r) for r in _open_deals(base, PUSHED_OLD_DEALS, rng)]
    olds += [_state_of(r) for r in _open_deals(later, PUSHED_OLD_DEALS, rng)]
    for state in starts:
        first = datetime.fromisoformat(state["created_at"].rstrip("Z"))
        first += timedelta(seconds=rng.randrange(2 * 86_400))
        timeline += [(at, s["id"], s) for at, s in _deal_pushes(rng, state, first, owners)]
    for state in olds:
        first = STREAM_START + timedelta(days=rng.randrange(90), seconds=rng.randrange(36_000))
        timeline += [(at, s["id"], s) for at, s in _deal_pushes(rng, state, first, owners)]
    timeline.sort(key=lambda e: (e[0], e[1]))
    calls: list[Item] = []
    pending = [state for _, _, state in timeline]
    while pending:
        size = 1 if rng.random() < 0.15 else rng.randint(2, 10)
        batch: list[dict[str, Any]] = []
        seen: set[str] = set()
        # The next pushes in time, each deal at most once and never ahead of its own older push.
        for state in pending[:LOOK_AHEAD]:
            if state["id"] not in seen and len(batch) < size:
                batch.append(state)
            seen.add(state["id"])
        pending = [s for s in pending if not any(s is b for b in batch)]
        calls.append(Push(tuple(batch)))
    calls.insert(int(len(calls) * IMPORT_AT), ImportExport())
    return calls


# --- the stores ---------------------------------------------------------------------------------


@dataclass
class Exports:
    base: Path  # imported before the stream
    later: Path  # imported during it
    stream: list[Item]


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Exports:
    folder = tmp_path_factory.mktemp("exports")
    base = generate_pipeline(40, seed=SEED, start="2023-01-01", end="2023-06-30")
    later = generate_pipeline(1_500, seed=SEED + 1, start="2023-07-01", end="2024-06-30")
    later = _renamed(later, "E")  # other deals than the first export's
    write_export(base, folder / "base")
    write_export(later, folder / "later")
    return Exports(folder / "base", folder / "later", build_stream(base, later))


def _renamed(pipeline: GeneratedPipeline, prefix: str) -> GeneratedPipeline:
    opps = pipeline.opportunities.assign(id=prefix + pipeline.opportunities["id"].str[1:])
    hist = pipeline.history.assign(
        opportunity_id=prefix + pipeline.history["opportunity_id"].astype(str).str[1:]
    )
    return GeneratedPipeline(opps, hist, pipeline.as_of, pipeline.stages)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_urls(request: pytest.FixtureRequest) -> Iterator[tuple[str | None, str | None]]:
    """The reference's and the faulty run's stores: SQLite files in their state folders (None),
    or two fresh PostgreSQL databases."""
    if request.param == "sqlite":
        yield None, None
        return
    reason = postgres_available()
    if reason:
        pytest.skip(reason)
    with fresh_postgres_database() as reference, fresh_postgres_database() as faulty:
        yield reference, faulty


def _prepare(settings: Settings, base: Path) -> tuple[Engine, str]:
    """A store holding the first export, and a CRM key for it."""
    engine = store.get_engine(settings)
    import_export(engine, base)
    with engine.begin() as conn:
        return engine, keys.create_key(conn, "scorer", "CRM")[1]


def build_reference(settings: Settings, exports: Exports) -> Engine:
    """The whole stream applied in order, through the app, with no kill."""
    from serving.app import create_app

    engine, key = _prepare(settings, exports.base)
    client = TestClient(create_app(settings), headers={"X-API-Key": key})
    for n, item in enumerate(exports.stream):
        if isinstance(item, ImportExport):
            import_export(engine, exports.later, chunk_rows=settings.import_chunk_rows)
            continue
        r = item.send(client)
        assert r.is_success, f"reference call {n}: {r.status_code} {r.text[:500]}"
    return engine


# --- the faulty run -----------------------------------------------------------------------------


@dataclass
class Sent:
    """What came back for each call of the stream before the kill."""

    status: list[int | None]  # None: no answer (in flight at the kill, or never sent)
    errors: list[str]
    import_proc: subprocess.Popen | None = None
    import_finished: bool = False
    in_flight: int = 0
    unexpected: list[str] = field(default_factory=list)

    def acked(self, n: int) -> bool:
        status = self.status[n]
        return status is not None and 200 <= status < 300


def send_until_kill(
    server: LiveServer, key: str, exports: Exports, env: dict[str, str], workdir: Path
) -> Sent:
    """Send the stream from SENDERS threads; kill -9 the server and the import once enough
    pushes are acknowledged."""
    stream = exports.stream
    pushes = sum(isinstance(i, Push) for i in stream)
    kill_after = int(pushes * KILL_AT)
    sent = Sent([None] * len(stream), [""] * len(stream))
    lock = threading.Lock()
    taken = iter(range(len(stream)))
    acked = 0
    started: set[int] = set()
    enough = threading.Event()
    import_started = threading.Event()

    def sender() -> None:
        nonlocal acked
        with httpx.Client(base_url=server.url, headers={"X-API-Key": key}, timeout=60) as client:
            while not enough.is_set():
                with lock:
                    n = next(taken, None)
                    if n is None:
                        return
                    started.add(n)
                item = stream[n]
                try:
                    if isinstance(item, ImportExport):
                        sent.import_proc = start_import(env, workdir, exports.later)
                        import_started.set()
                        continue
                    r = item.send(client)
                except httpx.TransportError as exc:
                    sent.errors[n] = repr(exc)
                    continue
                finally:
                    with lock:
                        started.discard(n)
                sent.status[n] = r.status_code
                if r.is_success:
                    with lock:
                        acked += 1
                        if acked >= kill_after:
                            enough.set()
                elif r.status_code != 503:  # Busy (retry later) is an answer; nothing else is
                    sent.unexpected.append(f"call {n}: {r.status_code} {r.text[:300]}")

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(SENDERS)]
    for t in threads:
        t.start()
    reached = enough.wait(timeout=300)
    import_started.wait(timeout=30)  # it comes before the kill in the stream
    with lock:
        sent.in_flight = len(started)
    proc = sent.import_proc
    sent.import_finished = proc is not None and proc.poll() == 0
    server.kill()
    if proc is not None:
        kill_import(proc)
    for t in threads:
        t.join(timeout=60)
    assert reached, f"only {acked} of {kill_after} pushes acknowledged:\n{server.tail()}"
    assert proc is not None, "the import was not started before the kill"
    return sent


#: What a push sets and the check below reads back.
CHECKED = ("stage", "amount", "owner", "rep_probability")


def newest_acked_lost(engine: Engine, stream: list[Item], sent: Sent) -> list[str]:
    """Deals whose newest acknowledged state is not in the store (a 2xx that was lost).

    The store holds either that state (`updated_at` may stay older when the push changed
    nothing but the date) or a newer one, from a call that was written but got no answer.
    """
    newest: dict[str, dict[str, Any]] = {}
    for n, item in enumerate(stream):
        if isinstance(item, Push) and sent.acked(n):
            for deal in item.deals:
                known = newest.get(deal["id"])
                if known is None or deal["updated_at"] > known["updated_at"]:
                    newest[deal["id"]] = deal
    opps = store.opportunities.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(opps.id, opps.updated_at, *[opps[c] for c in CHECKED]).where(
                opps.dataset == DATASET, opps.id.in_(list(newest))
            )
        ).mappings()
        stored = {r["id"]: dict(r) for r in rows}
    lost = []
    for deal_id, deal in sorted(newest.items()):
        row = stored.get(deal_id)
        if row is None:
            lost.append(f"{deal_id}: not in the store; acknowledged {deal}")
            continue
        same = all(row[c] == deal.get(c) for c in CHECKED)
        newer = pd.Timestamp(row["updated_at"]) > pd.Timestamp(deal["updated_at"]).tz_localize(None)
        if not (same or newer):
            lost.append(f"{deal_id}: the store holds {row}; acknowledged {deal}")
    return lost


def replay(server: LiveServer, key: str, exports: Exports, sent: Sent, env, workdir) -> int:
    """Send again, in the stream's order, every call that got no 2xx; rerun an unfinished
    import. Returns how many calls were sent again."""
    again = 0
    with httpx.Client(base_url=server.url, headers={"X-API-Key": key}, timeout=60) as client:
        for n, item in enumerate(exports.stream):
            if isinstance(item, ImportExport):
                if not sent.import_finished:
                    run_import(env, workdir, exports.later)
                continue
            if sent.acked(n):
                continue
            r = item.send(client)
            again += 1
            assert r.is_success, f"replayed call {n}: {r.status_code} {r.text[:500]}"
    return again


# --- comparing stores ---------------------------------------------------------------------------


def contents(engine: Engine) -> dict[str, pd.DataFrame]:
    """What the store holds for the dataset, bookkeeping left out, in a stable order."""
    with engine.connect() as conn:
        row = store.get_dataset(conn, DATASET)
    settings = ("kind", "stages", "leak_columns", "options")
    dataset = pd.DataFrame([{k: json.dumps(row[k], sort_keys=True) for k in settings}])
    opps = store.load_opportunities(engine, DATASET).sort_values("id")
    history = store.load_history(engine, DATASET)
    history = history.sort_values(list(history.columns))
    fields = store.load_field_history(engine, DATASET)
    fields = fields.sort_values(["opportunity_id", "observed_at"])
    return {
        "dataset": dataset,
        "opportunities": opps.reset_index(drop=True),
        "stage history": history.reset_index(drop=True),
        "field history": fields.reset_index(drop=True),
    }


#: How each table's differing rows are listed: by deal, then by time.
ORDER = {
    "dataset": ("kind",),
    "opportunities": ("id",),
    "stage history": ("opportunity_id", "entered_at"),
    "field history": ("opportunity_id", "observed_at"),
}


def differences(reference: dict[str, pd.DataFrame], got: dict[str, pd.DataFrame]) -> str:
    """Each table's rows found on one side only, shown side by side; empty when equal."""
    out = []
    for name, ref in reference.items():
        frame = got[name]
        if list(ref.columns) != list(frame.columns):
            out.append(f"{name}: columns {list(ref.columns)} != {list(frame.columns)}")
            continue
        a = Counter(map(tuple, ref.astype(str).itertuples(index=False)))
        b = Counter(map(tuple, frame.astype(str).itertuples(index=False)))
        only_ref, only_got = a - b, b - a
        if not only_ref and not only_got:
            continue
        rows = [(*r, "reference") for r in only_ref.elements()]
        rows += [(*r, "after kill") for r in only_got.elements()]
        order = [c for c in ref.columns if c in ORDER[name]]
        table = pd.DataFrame(rows, columns=[*ref.columns, "in"]).sort_values([*order, "in"])
        with pd.option_context("display.width", 250, "display.max_columns", 30):
            out.append(
                f"{name}: {sum(only_ref.values())} row(s) only in the reference, "
                f"{sum(only_got.values())} only after the kill and replay "
                f"({len(ref)} vs {len(frame)} rows):\n{table.head(40).to_string(index=False)}"
            )
    return "\n\n".join(out)


# --- the test -----------------------------------------------------------------------------------


def test_a_kill_minus_9_loses_nothing_and_a_replay_of_the_unanswered_calls_restores_the_store(
    exports: Exports, database_urls: tuple[str | None, str | None], tmp_path: Path
) -> None:
    reference_url, faulty_url = database_urls
    workdir = tmp_path / "faulty"
    workdir.mkdir()
    env = service_env(workdir / "state", faulty_url)
    settings = Settings(state_dir=workdir / "state", database_url=faulty_url, log_level="WARNING")
    engine, key = _prepare(settings, exports.base)
    reference_settings = Settings(
        state_dir=tmp_path / "reference", database_url=reference_url, log_level="WARNING"
    )
    server = LiveServer(env, workdir, "server")
    try:
        with ThreadPoolExecutor(1) as pool:
            # The reference is built beside the faulty run, on the machine's other core.
            reference = pool.submit(build_reference, reference_settings, exports)
            server.wait_ready()
            sent = send_until_kill(server, key, exports, env, workdir)
            assert not sent.unexpected, "answers but 2xx or 503:\n" + "\n".join(sent.unexpected)

            # Every acknowledged push is in the store the killed server left behind.
            lost = newest_acked_lost(engine, exports.stream, sent)
            assert not lost, "acknowledged pushes lost by kill -9:\n" + "\n".join(lost)

            server = LiveServer(env, workdir, "restarted")
            server.wait_ready()
            replayed = replay(server, key, exports, sent, env, workdir)
            expected = contents(reference.result())
        diff = differences(expected, contents(engine))
        assert not diff, (
            "the store after kill -9 and replay differs from the one built without the kill "
            f"({replayed} calls replayed, {sent.in_flight} of them in flight at the kill; the "
            f"import {'had finished' if sent.import_finished else 'killed, run again'}):\n{diff}"
        )
    finally:
        server.stop()
