"""Training from a file as a data scientist runs it: how the file was read is said, and a run
with the leaking columns kept is an experiment, never what serves by itself (walkthroughs saw a
misread file train in silence, and a leaky run promoted on its flattering figures)."""

from __future__ import annotations

from pathlib import Path

from forecast.data.generator import generate_leads, write_leads
from forecast.modeling import registry
from forecast.settings import get_settings
from tests.training.conftest import Cli, parsed


def test_a_run_with_leaks_kept_is_registered_not_promoted_and_says_so(
    cli: Cli, tmp_path: Path
) -> None:
    data = write_leads(generate_leads(1500, seed=2), tmp_path / "leads.csv")
    summary = parsed(cli("train", "leads", "--data", data, "--include-leaks", "--no-cv", "--json"))
    reg = summary["registration"]
    assert not reg["promoted"] and reg["champion_before"] is None
    said = " ".join(reg["reasons"])
    assert "not promoted by itself: trained with --include-leaks" in said
    assert f"forecast models promote leads --version {reg['version']}" in said
    shown = registry.show_model("leads", reg["version"], get_settings(), dataset=reg["dataset"])
    assert shown["params"]["include_leaks"] == "True"
    assert registry.champion_version("leads", get_settings(), dataset=reg["dataset"]) is None

    plain = parsed(cli("train", "leads", "--data", data, "--no-cv", "--json"))["registration"]
    assert plain["promoted"]  # the same data without the leaks: the dataset's first champion


def test_training_from_a_file_says_how_it_read_it(cli: Cli, tmp_path: Path) -> None:
    """A walkthrough's European export (';' between columns, ',' as the decimal mark) trained
    in silence with its numbers read as text. The run now says how the file was read, as an
    import does: the separator it found, and each number column it read as text with the
    `csv:` option that reads it."""
    import pandas as pd

    data = write_leads(generate_leads(1500, seed=2), tmp_path / "leads.csv")
    pd.read_csv(data).to_csv(tmp_path / "semi.csv", sep=";", decimal=",", index=False)
    out = cli("train", "leads", "--data", tmp_path / "semi.csv", "--no-cv")
    assert out.exit_code == 0, out.output
    said = " ".join(out.output.split())
    assert "read: semi.csv: columns separated by ';'" in said
    assert "read: TotalVisits: read as text, not as numbers:" in said
    assert 'csv: decimal: ","' in said
    summary = parsed(cli("train", "leads", "--data", data, "--no-cv", "--json"))
    assert not any("separated" in n for n in summary["read_notes"])
