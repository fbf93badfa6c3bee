"""Mapping files read as their authors mean them.

A mapping names what an export holds, so its words are the file's words. YAML 1.1 (PyYAML's
default) reads `Yes`, `No`, `On` and `Off` as booleans and `1` as a number, which turned
`value_fixes: {Converted: {Yes: 1, No: 0}}` into an error ("Input should be a valid string") or
a fix that never matched "Yes". Here only `true`/`false` are booleans (as in YAML 1.2), and where
a mapping expects the text of a cell, a number or boolean written bare is read as that text.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

_BOOL = "tag:yaml.org,2002:bool"


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 booleans."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _BOOL]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def read_yaml(path: Path) -> Any:
    """The YAML file's content, `Yes`/`No`/`On`/`Off` kept as the words they are. A file saved
    in a Windows code page (an editor's default, "Créé le" as a column name) is read as one."""
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):  # latin-1 reads any byte
        try:
            return yaml.load(data.decode(encoding), Loader=_Loader)  # noqa: S506 (a SafeLoader)
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes every byte")


def cell_text(value: Any) -> Any:
    """A bare number or boolean where a cell's text is meant, as that text (`1` → "1")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    return value


def cells_text(value: Any) -> Any:
    """`cell_text` over a list of cells, or a dict of them (`value_fixes`' {column: {from: to}},
    where `to` left empty or null is blank)."""
    if isinstance(value, dict):
        return {cell_text(k): "" if v is None else cells_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [cell_text(v) for v in value]
    return cell_text(value)
