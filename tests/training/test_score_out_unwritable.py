"""`forecast score --out` in a folder the user cannot write is refused before any scoring, naming
the folder and why, as a folder that does not exist is: not a traceback from the file writer
after the whole batch was scored."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.training.conftest import fails_cleanly
from training.cli import app


def _unwritable_folder(tmp_path: Path) -> Path:
    """A folder this process cannot create a file in (root writes anywhere chmod allows not:
    there, /proc, which no one writes a file in)."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        if not Path("/proc").is_dir():
            pytest.skip("running as root and no /proc to stand for an unwritable folder")
        return Path("/proc")
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    return folder


@pytest.mark.parametrize("name", ["scores.parquet", "scores.csv"])
def test_an_out_file_in_a_folder_that_cannot_be_written_is_refused_naming_it(tmp_path, name):
    folder = _unwritable_folder(tmp_path)
    result = CliRunner().invoke(app, ["score", "--kind", "leads", "--out", str(folder / name)])
    fails_cleanly(result, 2, f"--out: cannot write in the folder {str(folder)!r}")
    assert not (folder / name).exists()
    assert not (folder / f".{name}.partial").exists()
