"""A European lead export whose number columns hold a decimal comma ("2,5") and, on some rows,
a placeholder for no value ("n/a", "—") must still be drafted with `csv: decimal: ","`: the
import reads such few digitless texts as blanks, so the column is one of numbers. Before, one
"n/a" made the draft skip the column, it named no notation, and the import then read every
number column as text ("2,5" a category of its own) with a note pointing at missing_values
only, which alone would not read them."""

from __future__ import annotations

from pathlib import Path

from forecast.data.importing import read_export
from forecast.data.mapping import load_mapping
from forecast.data.mapping_draft import draft_mapping

LEADS = """Lead ID;Source;Minutes;Pages per visit;Converted
L1;Web;12;2,5;1
L2;Ads;n/a;3,75;0
L3;Web;1.234,5;—;1
L4;Ads;7;1,5;0
L5;Web;—;n/a;0
L6;Ads;40;4,25;1
"""


def test_a_decimal_comma_is_drafted_beside_placeholders_and_the_columns_read_as_numbers(
    tmp_path: Path,
) -> None:
    file = tmp_path / "leads.csv"
    file.write_text(LEADS)
    draft = draft_mapping(file, "leads")
    assert 'csv: {decimal: ",", thousands: "."}' in draft.text

    mapping = tmp_path / "leads.mapping.yaml"
    mapping.write_text(draft.text)
    leads = read_export(file, load_mapping(mapping)).leads
    assert leads["Pages per visit"].tolist()[:2] == [2.5, 3.75]
    assert leads["Minutes"].tolist()[2] == 1234.5
