"""Training with the leaking columns kept: a data scientist's experiment, never what serves by
itself (a walkthrough saw such a run promoted to champion on its flattering figures)."""

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
