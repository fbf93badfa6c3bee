"""The server's scheduler retrains what monitoring says is due, when enabled: after a tracking
run it asks `forecast retrain --if-needed` for each deal and lead dataset (the settings'
thresholds; each dataset's own champion judged), and reloads the champions only when one was
promoted."""

from __future__ import annotations

import asyncio
import json

import pytest

from forecast.settings import Settings
from serving import tracking


def _said(promoted: bool | None, reasons: list[str]) -> str:
    out: dict = {"decision": {"retrain": promoted is not None, "reasons": reasons, "checks": []}}
    if promoted is not None:
        out["training"] = {"registration": {"promoted": promoted}}
    return json.dumps(out)


@pytest.mark.parametrize(
    ("answers", "reloads"),
    [
        ({"deals": _said(True, ["champion 120 days old"]), "leads": _said(None, [])}, 1),
        ({"deals": _said(False, ["champion 120 days old"]), "leads": _said(None, [])}, 0),
        ({"deals": _said(None, []), "leads": _said(None, [])}, 0),
    ],
)
def test_a_retrain_that_promotes_reloads_the_champions(tmp_path, monkeypatch, answers, reloads):
    settings = Settings(
        state_dir=tmp_path,
        track_every_hours=24,
        track_first_after_seconds=0,
        retrain_in_scheduler=True,
        retrain_max_age_days=30,
        retrain_min_auc=None,
    )
    asked: list[list[str]] = []

    async def child(cmd, settings_, last_line=True):  # noqa: ANN001, ANN202
        asked.append(cmd)
        if "retrain" in cmd:
            return True, answers[cmd[cmd.index("retrain") + 1]]
        return True, "72 lines"

    monkeypatch.setattr(tracking, "_child", child)
    monkeypatch.setattr(
        tracking, "retrain_datasets", lambda settings: {"deals": ["crm"], "leads": ["web"]}
    )
    state = tracking.TrackingState(24)
    reloaded: list[int] = []

    async def reload() -> None:
        reloaded.append(1)

    async def one_round() -> None:
        task = asyncio.create_task(tracking.scheduler(settings, state, reload=reload))
        while len(asked) < 3:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        task.cancel()

    asyncio.run(one_round())
    retrains = [c for c in asked if "retrain" in c]
    assert [c[c.index("retrain") + 1] for c in retrains] == ["deals", "leads"]
    assert [c[c.index("--data") + 1] for c in retrains] == ["crm", "web"]
    assert all("--if-needed" in c and "--max-age-days" in c for c in retrains)
    assert not any("--min-auc" in c for c in retrains)  # a threshold left unset is not checked
    assert len(reloaded) == reloads
    assert state.last_retrain.startswith("leads of web: ")


def test_each_dataset_is_retrained_on_its_own_champion(tmp_path):
    settings = Settings(state_dir=tmp_path, retrain_max_age_days=30, retrain_min_auc=None)
    commands = tracking.retrain_commands(settings, {"deals": ["crm-a", "crm-b"], "leads": []})
    assert [(c[c.index("retrain") + 1], c[c.index("--data") + 1]) for c in commands] == [
        ("deals", "crm-a"),
        ("deals", "crm-b"),
    ]
    assert tracking.retrain_commands(settings, {"deals": [], "leads": []}) == []


def test_the_datasets_retrained_are_the_stores(tmp_path):
    from forecast.data import store

    settings = Settings(state_dir=tmp_path)
    engine = store.get_engine(settings)
    with engine.begin() as conn:
        store.save_dataset(conn, "crm", "opportunities")
    assert tracking.retrain_datasets(settings) == {"deals": ["crm"], "leads": []}


def test_without_the_setting_the_scheduler_only_tracks(tmp_path, monkeypatch):
    settings = Settings(state_dir=tmp_path, track_every_hours=24, track_first_after_seconds=0)
    asked: list[list[str]] = []

    async def child(cmd, settings_, last_line=True):  # noqa: ANN001, ANN202
        asked.append(cmd)
        return True, "72 lines"

    monkeypatch.setattr(tracking, "_child", child)

    async def one_round() -> None:
        task = asyncio.create_task(tracking.scheduler(settings, tracking.TrackingState(24)))
        while not asked:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        task.cancel()

    asyncio.run(one_round())
    assert len(asked) == 1 and "track" in asked[0]
