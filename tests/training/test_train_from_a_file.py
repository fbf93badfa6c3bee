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


def test_a_model_trained_from_a_file_serves_leads_sent_as_the_file_writes_them(
    cli: Cli, tmp_path: Path
) -> None:
    """A walkthrough trained on a German export (`train leads --data FILE`, never imported)
    and served it: a CRM sending the lead as the export writes it ("70,6", "21.06.2024" under
    "Erstellt am") got "is not a number: scored as blank" and the creation date ignored, a
    score far from `forecast score`'s for the same lead. The API now reads it as the file
    was read, as it does for an imported dataset."""
    import numpy as np
    import pandas as pd
    from fastapi.testclient import TestClient

    from forecast import keys
    from forecast.data import store
    from serving.app import create_app

    rng = np.random.default_rng(3)
    n = 1200
    points = rng.uniform(0, 100, n).round(1)
    created = pd.Timestamp("2023-01-02") + pd.to_timedelta(rng.integers(0, 500, n), unit="D")
    won = rng.random(n) < 0.1 + points / 200
    lines = ["Nr;Status;Erstellt am;Punktzahl"] + [
        f"I{i};{'Gewonnen' if w else 'Verloren'};{c:%d.%m.%Y};{str(p).replace('.', ',')}"
        for i, (w, c, p) in enumerate(zip(won, created, points, strict=True))
    ]
    (tmp_path / "de.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "de.yaml").write_text(
        "kind: leads\ndataset: de\ncolumns: {id: Nr, converted: Status, created_at: Erstellt am}\n"
        "value_fixes: {Status: {Gewonnen: '1', Verloren: '0'}}\n"
        'date_format: "%d.%m.%Y"\ncsv: {separator: ";", decimal: ",", thousands: "."}\n'
    )
    trained = cli(
        "train", "leads", "--data", tmp_path / "de.csv", "--mapping", tmp_path / "de.yaml"
    )
    assert trained.exit_code == 0, trained.output
    settings = get_settings()
    with store.get_engine(settings).begin() as conn:
        key = keys.create_key(conn, "scorer", "crm")[1]
    with TestClient(create_app(settings)) as client:

        def scored(fields: dict[str, object]) -> dict[str, object]:
            body = {"id": "I1", "fields": fields}
            response = client.post("/v1/leads/score", json=body, headers={"X-API-Key": key})
            assert response.status_code == 200, response.text
            return dict(response.json())

        as_written = scored({"Punktzahl": "70,6", "Erstellt am": "21.06.2024"})
        as_canonical = scored({"Punktzahl": 70.6, "created_at": "2024-06-21"})
    assert as_written["notes"] == []
    assert as_written["probability"] == as_canonical["probability"]


def test_a_file_with_bad_rows_is_refused_saying_how_to_train_on_the_others(
    cli: Cli, tmp_path: Path
) -> None:
    """A walkthrough's export with a few leads created in 2031 stopped `train leads --data
    FILE` with "import rejected: 7 problem(s) in 7 row(s); nothing was written", and no way to
    train on the other rows: `train` takes no `--on-error`. The refusal now names the way."""
    from tests.training.conftest import fails_cleanly

    rows = [f"L{i},{i % 3 == 0:d},2024-0{1 + i % 9}-1{i % 10}" for i in range(60)]
    rows[5] = "L5,1,2031-01-01"
    (tmp_path / "leads.csv").write_text("id,converted,created_at\n" + "\n".join(rows) + "\n")
    out = cli("train", "leads", "--data", tmp_path / "leads.csv", "--mapping", "canonical_leads")
    fails_cleanly(
        out,
        2,
        "date in the future",
        "1 problem(s) in 1 row(s); nothing was trained",
        "Correct the file or the mapping (the problems and notes above say what is wrong)",
        f"forecast import {tmp_path / 'leads.csv'} --mapping canonical_leads --on-error skip",
        "then `forecast train leads --data leads`",
    )


def test_a_label_read_as_one_outcome_only_names_its_column_and_the_way_out(
    cli: Cli, tmp_path: Path
) -> None:
    """A walkthrough's HubSpot contacts, drafted with only "customer" converted and every
    other lifecycle stage not known yet, stopped with "one class only: all 725 labelled leads
    are converted; a model needs both outcomes": neither the column nor the fix was named."""
    from tests.training.conftest import fails_cleanly

    stages = ["customer", "lead", "subscriber", "lead"] * 15
    rows = [f"R{i},{s},2024-01-{1 + i % 28:02d}" for i, s in enumerate(stages)]
    (tmp_path / "contacts.csv").write_text(
        "Record ID,Lifecycle Stage,Create Date\n" + "\n".join(rows) + "\n"
    )
    (tmp_path / "contacts.yaml").write_text(
        "kind: leads\ndataset: contacts\n"
        "columns: {id: Record ID, converted: Lifecycle Stage, created_at: Create Date}\n"
        "value_fixes: {Lifecycle Stage: {customer: '1', lead: '', subscriber: ''}}\n"
    )
    out = cli(
        "train",
        "leads",
        "--data",
        tmp_path / "contacts.csv",
        "--mapping",
        tmp_path / "contacts.yaml",
    )
    fails_cleanly(
        out,
        2,
        "all 15 leads with a value in 'Lifecycle Stage' (converted) are converted",
        "45 have none (not known yet)",
        "value_fixes",
        'not converted ("0")',
    )
