"""A leads file scored in one batch reads a yes/no word for an input the model learnt as a 0/1
number as the API does (`LeadFields`): "Yes" as 1, "No" as 0 (before: the batch scored them as
blank, so a file exported with words got other scores than the same leads sent to the API)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tests.training.conftest import Cli, parsed

MAPPING = """kind: leads
dataset: inbound
columns: {id: id, converted: converted}
"""


def _leads(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    opted = rng.integers(0, 2, n)
    return pd.DataFrame(
        {
            "id": [f"L{i}" for i in range(n)],
            "converted": (rng.random(n) < np.where(opted == 1, 0.6, 0.1)).astype(int),
            "Opted In": opted,
            "Visits": rng.integers(0, 9, n),
        }
    )


def test_a_file_with_yes_and_no_in_a_0_1_column_scores_as_the_file_with_1_and_0(
    cli: Cli, tmp_path: Path
) -> None:
    mapping = tmp_path / "inbound.yaml"
    mapping.write_text(MAPPING)
    history = tmp_path / "history.csv"
    _leads(2000, seed=4).to_csv(history, index=False)
    for args in (["import", history, "--mapping", mapping], ["train", "leads", "--no-cv"]):
        done = cli(*args)
        assert done.exit_code == 0, done.output

    new = _leads(40, seed=5).drop(columns="converted")
    as_numbers, as_words = tmp_path / "numbers.csv", tmp_path / "words.csv"
    new.to_csv(as_numbers, index=False)
    new.assign(**{"Opted In": new["Opted In"].map({1: "Yes", 0: "No"})}).to_csv(
        as_words, index=False
    )
    scored = {}
    for path in (as_numbers, as_words):
        out = tmp_path / f"{path.stem}.parquet"
        parsed(
            cli(
                "score",
                "--kind",
                "leads",
                "--data",
                path,
                "--mapping",
                mapping,
                "--out",
                out,
                "--json",
            )
        )
        scored[path.stem] = pd.read_parquet(out).set_index("id").sort_index()

    numbers, words = scored["numbers"], scored["words"]
    assert numbers["probability"].tolist() == words["probability"].tolist()
    assert numbers["reasons_for"].tolist() == words["reasons_for"].tolist()
    # The flag matters to the model: "Yes" read as blank would not score as 1 does.
    opted = new.set_index("id").sort_index()["Opted In"] == 1
    assert numbers["probability"][opted].min() > numbers["probability"][~opted].max()
