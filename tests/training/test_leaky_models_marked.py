"""A model trained with its leak columns kept is marked wherever a user picks a model: a
walkthrough promoted one by hand ("beats champion: AUC 0.9927 vs 0.8263") with no word that
those figures read what a new lead does not have yet, and `models list` showed it as any other."""

from __future__ import annotations

from pathlib import Path

from forecast.data.generator import generate_leads, write_leads
from tests.training.conftest import Cli, parsed


def test_promoting_a_leaky_version_warns_first_and_the_list_marks_it(
    cli: Cli, tmp_path: Path
) -> None:
    data = write_leads(generate_leads(1500, seed=3), tmp_path / "leads.csv")
    leaky = parsed(cli("train", "leads", "--data", data, "--include-leaks", "--no-cv", "--json"))
    reg = leaky["registration"]
    plain = parsed(cli("train", "leads", "--data", data, "--no-cv", "--no-promote", "--json"))
    version, other = reg["version"], plain["registration"]["version"]

    out = cli("models", "promote", "leads", "--version", version, "--dataset", reg["dataset"])
    assert out.exit_code == 0, out.output  # asked for by name: promoted all the same
    said = " ".join(out.stdout.split())
    warning = f"warning: v{version} was trained with --include-leaks: the leak columns were kept"
    assert warning in said
    assert "look better than scoring new leads can be" in said
    assert said.index(warning) < said.index("promoted")  # said before the verdict

    listed = cli("models", "list")
    assert listed.exit_code == 0, listed.output
    assert f"{version} (leaks kept)" in listed.stdout
    assert f"{other} (leaks kept)" not in listed.stdout
    rows = {r["version"]: r for r in parsed(cli("models", "list", "--json"))}
    assert rows[version]["leaks_kept"] is True and "champion" in rows[version]["aliases"]
    assert rows[other]["leaks_kept"] is False

    shown = parsed(cli("models", "show", "leads", "--version", version, "--json"))
    assert shown["leaks_kept"] is True
    assert "trained with --include-leaks" in shown["decision"]  # the tag says it too
