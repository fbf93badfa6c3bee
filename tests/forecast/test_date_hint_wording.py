"""The import's note on dates it could not read says what happened to them (not read, in no
format the mapping reads) and which `date_format:` would read them: never that they were, or
would be, read with a format the mapping does not have. `forecast score` shows it as it is."""

from __future__ import annotations

import pytest

from forecast.data.importing import read_export
from forecast.errors import ImportRejected
from tests.forecast import test_import_options as import_options
from tests.forecast.test_import_options import write

ROWS = """
Deal ID,Stage,Amount,Created,Closed
D1,New,100,2024-12-30,
D2,New,200,12/31/2024 3:00 PM,
"""


@pytest.mark.parametrize("mapping_line", ["", 'date_format: "%Y-%m-%d"\n'])
def test_an_unread_date_is_said_unread_with_the_format_that_would_read_it(tmp_path, mapping_line):
    file = write(tmp_path, "deals.csv", ROWS)
    with pytest.raises(ImportRejected) as rejected:
        read_export(file, import_options.mapping(tmp_path, mapping_line))
    [note] = [n for n in rejected.value.report.notes if n.startswith("Created:")]
    assert note == (
        "Created: dates like '12/31/2024 3:00 PM' are not read: they are in no format the "
        "mapping reads (its date_format, or ISO 8601 where it gives none); set date_format: "
        '["%m/%d/%Y %I:%M %p", "%Y-%m-%d"] (month first) to read them'
    )
