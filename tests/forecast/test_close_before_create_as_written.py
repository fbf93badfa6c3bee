"""A deal that closed before it was created is named with both dates as the export wrote
them: a Salesforce report's '10/25/2016 > 1/5/2016', so the user finds the row by what the
file shows. The problem showed '2016-10-25 > 2016-01-05', a form the file did not use."""

from __future__ import annotations

from pathlib import Path

import pytest

from forecast.data.importing import read_export
from forecast.errors import ImportRejected
from tests.forecast.test_import_options import write

DEALS = """Opportunity ID,Stage,Amount,Created Date,Close Date
006A,Closed Won,100,10/25/2016,1/5/2016
006B,Closed Lost,200,10/25/2016,11/5/2016
006C,Prospecting,300,10/26/2016,
"""

MAPPING = """kind: opportunities
dataset: sfdc
columns:
  id: Opportunity ID
  stage: Stage
  amount: Amount
  created_at: Created Date
  close_date: Close Date
stages:
  open: [Prospecting]
  won: Closed Won
  lost: Closed Lost
date_format: "%m/%d/%Y"
"""


def test_close_before_create_shows_the_dates_as_the_file_wrote_them(tmp_path: Path) -> None:
    file = write(tmp_path, "opps.csv", DEALS)
    with pytest.raises(ImportRejected) as caught:
        read_export(file, write(tmp_path, "m.yaml", MAPPING))
    [problem] = caught.value.report.examples
    assert (problem.kind, problem.row, problem.column) == ("close before create", 2, "Close Date")
    assert problem.value == "10/25/2016 > 1/5/2016"
