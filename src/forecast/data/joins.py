"""The files an export joins on a key (owners → team, accounts → sector): read once, merged
into each chunk of the main file, and what could not be matched said in the import report.

A key spelt loosely (`loose_key`: case, spaces, dashes and underscores ignored) is matched that
way and written as the joined file spells it; a key the joined file lists twice with different
values takes its first row; both, and the keys it lacks, are noted (once per import).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from forecast.data.reading import read_table
from forecast.data.value_fixes import respelled
from forecast.errors import InvalidInput

if TYPE_CHECKING:
    from collections.abc import Callable

    from forecast.data.mapping import CsvOptions, Join, Mapping
    from forecast.data.validation import ImportReport


class JoinedFiles:
    """The joining half of an import job (`forecast.data.importing._Job` sets the fields)."""

    mapping: Mapping
    report: ImportReport
    main: Path
    folder: Path
    #: (key, joined file's rows, loose, optional) per join of the mapping (an optional one
    #: whose file is absent is not there).
    joins: list[tuple[str, pd.DataFrame, bool, bool]]
    #: Join key → (its values a joined file lacks, the columns they miss): `_unmatched`.
    unmatched: dict[str, tuple[set[str], list[str]]]

    csv: CsvOptions
    _sibling: Callable[[str], Path]  # a file beside the main one
    _fix_values: Callable[..., pd.DataFrame]  # the mapping's value fixes

    def _read_joins(self) -> list[tuple[str, pd.DataFrame, bool, bool]]:
        """The mapping's joined files, read once; an optional one (a preset's Account.csv) is
        left out, and said, where it is not beside the export."""
        out = []
        for join in self.mapping.joins:
            if join.optional and not (self.folder / join.file).is_file():
                self.report.note(
                    f"no {join.file} beside the export: its columns are not joined ({join.key} "
                    "as it is)"
                )
                continue
            out.append(self._read_join(join))
        return out

    def _read_join(self, join: Join) -> tuple[str, pd.DataFrame, bool, bool]:
        key, loose = join.key, join.loose_key
        file = self._sibling(join.file)
        frame = read_table(file, self.mapping.missing_values, self.csv)
        own = join.file_key or key
        if own not in frame.columns:
            raise InvalidInput(f"{file}: missing required column {own!r} (the join key)")
        frame = self._fix_values(respelled(frame, self.mapping.value_fixes), file.name)
        # Its columns as the main file will read them: the key under the main file's name,
        # the others after the prefix ("Account." + "Name").
        frame = frame.drop(columns=[key] if key != own and key in frame.columns else [])
        frame = frame.rename(
            columns={c: key if c == own else f"{join.prefix}{c}" for c in frame.columns}
        )
        twice = frame[key].notna() & frame.duplicated(key, keep=False)
        if twice.any():
            # The same row again is harmless; a key given different values is the export's
            # mistake: the first row is used, and the import says so.
            clashing = frame[twice].drop_duplicates().loc[lambda f: f.duplicated(key, keep=False)]
            keys = sorted(map(str, clashing[key].unique()))
            if keys:
                shown = ", ".join(repr(k) for k in keys[:5]) + (" …" if len(keys) > 5 else "")
                self.report.note(
                    f"{file.name}: {len(keys)} {key} value(s) listed more than once with "
                    f"different values ({shown}): the first row of each is used"
                )
        frame = frame.drop_duplicates(key)
        if loose:
            frame["__key"] = _loose(frame[key])
        return key, frame, loose, join.optional

    def _join(self, raw: pd.DataFrame) -> pd.DataFrame:
        for key, table, loose, optional in self.joins:
            if key not in raw.columns:
                if optional:  # the export names its rows another way (Account.Name)
                    continue
                raise InvalidInput(f"{self.main}: missing required column {key!r} (join key)")
            if loose:
                right = table.drop(columns=[key])
                joined = raw.assign(__key=_loose(raw[key])).merge(right, on="__key", how="left")
                spelled = dict(zip(_loose(table[key]), table[key], strict=True))
                canonical = _loose(raw[key]).map(spelled)
                canonical = canonical.where(raw[key].notna())
                renamed = raw[key].notna() & canonical.notna() & (canonical != raw[key])
                if renamed.any():
                    for old, new in set(zip(raw[key][renamed], canonical[renamed], strict=True)):
                        n = int((raw[key] == old).sum())
                        self.report.fixed_values[f"{key}: {old} → {new}"] += n
                    joined[key] = canonical.where(canonical.notna(), raw[key]).to_numpy()
                joined = joined.drop(columns="__key")
            else:
                joined = raw.merge(table, on=key, how="left", suffixes=("", f"__{key}"))
            joined.index = raw.index
            self._unmatched(raw, joined, key, table)
            raw = joined
        return raw

    def _unmatched(
        self, raw: pd.DataFrame, joined: pd.DataFrame, key: str, table: pd.DataFrame
    ) -> None:
        """Keys the joined file lacks (their rows take none of its columns), gathered over the
        chunks and said once by `finish`."""
        added = [c for c in table.columns if c not in (key, "__key") and c in joined.columns]
        if not added:
            return
        missing = raw[key].notna() & joined[added].isna().all(axis=1)
        if missing.any():
            keys, _ = self.unmatched.setdefault(key, (set(), added))
            keys.update(map(str, raw.loc[missing, key].unique()))

    def _say_unmatched(self) -> None:
        for key, (keys, added) in self.unmatched.items():
            values = sorted(keys)
            shown = ", ".join(repr(v) for v in values[:5]) + (" …" if len(values) > 5 else "")
            columns = ", ".join(added[:4]) + (" …" if len(added) > 4 else "")
            self.report.note(
                f"{len(values)} {key} value(s) not in the joined file ({shown}): their rows take "
                f"none of its columns ({columns})"
            )
        self.unmatched.clear()


def _loose(values: pd.Series) -> pd.Series:
    return values.astype("str").map(lambda v: re.sub(r"[\s_\-]+", "", v).casefold())
