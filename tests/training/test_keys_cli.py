"""`forecast keys create --dataset`: a key bound to one dataset (in the store, or one with a
champion), listed with it; an unknown dataset is refused naming the ones there are."""

from __future__ import annotations

import re
from pathlib import Path

from forecast.data import store
from forecast.keys import KeyVerifier
from tests.training.conftest import Cli, fails_cleanly, parsed


def test_a_key_bound_to_a_dataset_is_made_listed_and_verified_with_it(cli: Cli, export: Path):
    assert cli("import", export, "--dataset", "north").exit_code == 0
    made = parsed(
        cli(
            "keys",
            "create",
            "--role",
            "scorer",
            "--name",
            "North CRM",
            "--dataset",
            "north",
            "--json",
        )
    )
    assert made["dataset"] == "north"
    found = KeyVerifier(store.get_engine(), ttl_seconds=0).verify(made["key"])
    assert found is not None and found.dataset == "north"
    listed = cli("keys", "list")
    assert re.search(r"scorer\s+\S+…\s+North CRM\s+dataset north\s+\(active\)", listed.stdout)
    assert [r["dataset"] for r in parsed(cli("keys", "list", "--json"))] == ["north"]


def test_a_dataset_neither_stored_nor_trained_is_refused_naming_the_stored(cli: Cli, export: Path):
    assert cli("import", export, "--dataset", "north").exit_code == 0
    result = cli("keys", "create", "--role", "scorer", "--name", "West", "--dataset", "west")
    fails_cleanly(result, 2, "'west' is neither a dataset in the store nor one with a champion")
    assert "north" in result.stderr
