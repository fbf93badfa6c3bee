"""Which mapping an export is: a built-in whose files a folder holds (its header agreeing), or a
preset whose columns a file's header holds (a HubSpot or Salesforce export)."""

from __future__ import annotations

from pathlib import Path

from forecast.data.mapping import BUILT_IN, PRESETS, Mapping, load_mapping, loose_key
from forecast.data.reading import header
from forecast.errors import InvalidInput


def detect_mapping(path: Path) -> Mapping:
    """The built-in mapping whose files are present at `path` (a folder or one of its files),
    or the preset whose columns a file's header holds (a HubSpot or Salesforce export)."""
    if path.is_file() and _is_empty(path):  # said first: no mapping would read it
        raise InvalidInput(f"{path}: the file is empty")
    folder = path if path.is_dir() else path.parent
    names = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
    for name in BUILT_IN:
        mapping = load_mapping(name)
        if mapping.detect and set(mapping.detect) <= names:
            if path.is_dir() or path.name == mapping.main:
                # A preset's file name ("Opportunity.csv") is common: its header must agree.
                wanted = {loose_key(c) for c in mapping.detect_columns}
                if wanted and mapping.main is not None:
                    if not wanted <= {loose_key(c) for c in header(folder / mapping.main)}:
                        continue
                return mapping
    preset = preset_of(only_data_file(path) or path)
    if preset is not None:
        return load_mapping(preset)
    fits = _built_ins_read(path)
    hint = (
        f"its header holds every column the built-in {' or '.join(map(repr, fits))} reads: pass "
        f"--mapping {fits[0]}, or "
        if fits
        else ""
    )
    raise InvalidInput(
        f"{path}: not a format I recognise (the built-ins: {', '.join(BUILT_IN)}; a "
        "built-in's export is known by its files' names, a HubSpot or Salesforce one by its "
        "header); "
        f"{hint}pass --mapping with a built-in's name or a mapping file (see the README, "
        f"'Importing your own export'); `forecast draft-mapping {path}` drafts one from its "
        "columns"
    )


#: A leads mapping's fields that new leads (to score, not to learn from) have no value for.
OUTCOME_FIELDS = ("converted", "converted_at")


def _built_ins_read(path: Path) -> list[str]:
    """The single-file built-ins whose every mapped column a file's header holds (a built-in's
    file renamed: detection goes by its name, so it is only suggested, never taken). A leads
    mapping's outcome columns are not needed: new leads to score have none yet. A column may
    be under one of its aliases ("Created Date" for a Salesforce leads report's "Create Date")."""
    if not path.is_file():
        return []
    columns = {loose_key(c) for c in header(path)}
    out = []
    for name in BUILT_IN:
        mapping = load_mapping(name)
        if mapping.history_file is None and isinstance(mapping.columns, dict):
            outcome = OUTCOME_FIELDS if mapping.kind == "leads" else ()
            wanted = [  # each field's names: its column or one of its aliases
                {loose_key(n) for n in [c, *mapping.column_aliases.get(f, [])]}
                for f, c in mapping.columns.items()
                if f not in outcome
            ]
            if wanted and all(names & columns for names in wanted):
                out.append(name)
    return out


def preset_of(path: Path) -> str | None:
    """The name of the preset whose columns a file's header holds (a HubSpot or Salesforce
    export), or None: what `forecast import FILE` reads it with, no mapping given."""
    if not path.is_file():
        return None
    columns = {loose_key(c) for c in header(path)}
    for name in PRESETS:
        if {loose_key(c) for c in load_mapping(name).detect_columns} <= columns:
            return name
    return None


def only_data_file(path: Path) -> Path | None:
    """The one export file a folder holds (`forecast generate --format hubspot`'s folder, a
    CRM's download unzipped), or None: a folder of several files needs a mapping naming its
    main one."""
    if not path.is_dir():
        return None
    files = [
        p
        for p in path.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.name.lower().endswith(DATA_SUFFIXES)
    ]
    return files[0] if len(files) == 1 else None


#: The names an export file ends with (CSV, compressed or not, and Parquet).
DATA_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq", ".gz", ".bz2", ".xz", ".zip")


def _is_empty(path: Path) -> bool:
    """Nothing in the file but blank lines (or a byte-order mark): no header to recognise."""
    if path.stat().st_size > 65_536:
        return False
    return not path.read_bytes().replace(b"\xef\xbb\xbf", b"").strip()
