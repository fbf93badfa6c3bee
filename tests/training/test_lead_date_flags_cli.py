"""A leads export with a column of dates in the mapping's `date_format` ("Trial Started",
m/d/Y): training says it read the column as dates and learnt whether one is given, and a file of
new leads scored in one batch scores any date alike (dates never seen in training included) and
a blank apart (before: every new date was a value never learnt, scored as blank)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tests.training.conftest import Cli, parsed

MAPPING = """kind: leads
dataset: trials
columns: {id: Email, converted: Became Customer, created_at: Date Created}
date_format: ["%Y-%m-%d %H:%M:%S", "%m/%d/%Y"]
"""


def _leads(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    created = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.uniform(0, 200, n), unit="D")
    trial = rng.random(n) < 0.45
    return pd.DataFrame(
        {
            "Email": [f"lead{i}@example.com" for i in range(n)],
            "Date Created": created.strftime("%Y-%m-%d %H:%M:%S"),
            "Role": rng.choice(["Owner", "Agency", "Student"], n),
            "Trial Started": np.where(trial, created.strftime("%m/%d/%Y"), ""),
            "Became Customer": (rng.random(n) < np.where(trial, 0.5, 0.08)).astype(int),
        }
    )


def test_training_reads_a_date_column_as_is_set_and_a_batch_scores_any_date_alike(
    cli: Cli, tmp_path: Path
) -> None:
    mapping = tmp_path / "trials.yaml"
    mapping.write_text(MAPPING)
    history = tmp_path / "history.csv"
    _leads(1500, seed=4).to_csv(history, index=False)
    assert cli("import", history, "--mapping", mapping).exit_code == 0
    trained = cli("train", "leads", "--no-cv")
    assert trained.exit_code == 0, trained.output
    out = " ".join(trained.output.split())
    assert "read as dates, learnt as 'is set' (1 a date, 0 blank): Trial Started" in out
    assert "not among the values" not in out

    new = pd.DataFrame(
        {
            "Email": ["a@x.com", "b@x.com", "c@x.com", "d@x.com"],
            "Date Created": "2024-07-01 09:00:00",
            "Role": "Owner",
            "Trial Started": ["12/31/2029", "07/01/2024", "2024-07-01", ""],
        }
    )
    path = tmp_path / "new.csv"
    new.to_csv(path, index=False)
    scores = tmp_path / "scores.parquet"
    args = ("score", "--kind", "leads", "--data", path, "--mapping", mapping, "--out", scores)
    parsed(cli(*args, "--json"))
    p = pd.read_parquet(scores).set_index("id")["probability"]
    assert p["a@x.com"] == p["b@x.com"] == p["c@x.com"] > p["d@x.com"]
