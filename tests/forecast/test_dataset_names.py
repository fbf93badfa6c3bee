"""The dataset name a drafted mapping proposes is the file's name, and the kept pipeline's after
it, each written one way: lower case, letters and digits of any script, "_" for the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from forecast.data.dataset_names import file_dataset, pipeline_dataset, slug
from forecast.data.mapping import load_mapping
from forecast.data.mapping_draft import draft_mapping
from tests.forecast.test_import_options import write


@pytest.mark.parametrize(
    ("file", "name"),
    [
        ("opps.csv", "opps"),
        ("Deals Export (Q1).csv", "deals_export__q1"),
        ("deals.csv.gz", "deals"),
        ("Übersicht.csv", "übersicht"),
        ("U\u0308bersicht.csv", "übersicht"),  # as macOS writes "Ü": "U" and a combining mark
        ("Сделки 2024.csv", "сделки_2024"),
        ("हिन्दी.csv", "हिन्दी"),  # its vowel signs are marks: kept with their letters
        ("Team\u00a0Nord\u200b.csv", "team_nord"),  # a no-break space; a zero-width one dropped
        ("---.csv", "export"),
        (".csv", "export"),
    ],
)
def test_a_file_is_named_by_its_name_before_the_first_dot(file, name):
    assert file_dataset(Path(file)) == name


@pytest.mark.parametrize(
    ("pipeline", "name"),
    [
        ("Sales Pipeline", "opps_sales_pipeline"),
        ("Sales – EMEA/UK", "opps_sales___emea_uk"),
        ("Réactivation", "opps_réactivation"),
        ("★", "opps"),  # nothing of the pipeline's name is left: no "opps_"
    ],
)
def test_a_pipeline_is_named_after_its_file(pipeline, name):
    assert pipeline_dataset("opps", pipeline) == name


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Sales Pipeline", "sales_pipeline"),
        ("U\u0308bersicht", "übersicht"),
        ("İstanbul", "i\u0307stanbul"),  # "İ" lower-cased is "i" and a dot above: one letter
        ("Q1 + Q2 deals!", "q1___q2_deals"),
    ],
)
def test_a_file_name_and_a_pipeline_name_are_written_alike(text, name):
    assert slug(text) == name
    assert file_dataset(Path(f"{text}.csv")) == name
    assert pipeline_dataset("x", text) == f"x_{name}"


@pytest.mark.parametrize(("file", "name"), [("2024.csv", "2024"), ("null.csv", "null")])
def test_a_draft_of_a_file_named_like_a_yaml_number_or_null_imports_under_that_name(
    tmp_path, file, name
):
    """The draft quotes the name, so YAML reads it as text: unquoted, "dataset: 2024" was a
    number the mapping refused."""
    data = write(tmp_path, file, "Lead ID,Email,Converted\n1,a@x.com,yes\n2,b@x.com,no\n")
    draft = draft_mapping(data)
    assert load_mapping(write(tmp_path, "m.yaml", draft.text)).dataset == name
