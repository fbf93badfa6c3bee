"""A built-in mapping is a preset a mapping can name and amend: the X Education leads export
saved by a German Excel (";" and "2,5") reads with `preset: x_education_leads` and its own
`csv:` line. The import's note says to set "the mapping's csv: decimal", but the built-in
could not be amended: `preset: x_education_leads` was refused as an unknown preset, leaving a
copy of the built-in's YAML, from inside the package, as the only way."""

from __future__ import annotations

from pathlib import Path

from forecast.data.importing import read_export

LEADS = (
    "Prospect ID;Lead Number;Lead Source;Page Views Per Visit;Tags;Converted\n"
    "a1;1;Google;2,5;Ringing;1\n"
    "a2;2;Direct;1,25;Busy;0\n"
    "a3;3;Select;3;Ringing;1\n"
)


def test_a_mapping_amends_the_x_education_built_in_with_its_number_notation(
    tmp_path: Path,
) -> None:
    (tmp_path / "Leads.csv").write_text(LEADS)
    (tmp_path / "de.yaml").write_text(
        'preset: x_education_leads\ndataset: xe_de\ncsv: {decimal: ",", thousands: "."}\n'
    )
    read = read_export(tmp_path / "Leads.csv", tmp_path / "de.yaml")
    assert read.dataset == "xe_de"
    assert read.leads["Page Views Per Visit"].tolist() == [2.5, 1.25, 3.0]
    assert "Tags" in read.leak_columns  # the built-in's own settings stand
