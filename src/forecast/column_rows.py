"""Rows that are held column by column, as a batch file gives them.

Scoring reads rows as field → value mappings (the API's form). A batch read from a file or a
table already has its values by column; `ColumnRows` keeps them so, and makes a row's mapping
only when a step reads that row. Encoding takes a column as it is instead of reading it back
out of 10,000 mappings (the mappings lie all over memory, the column's list in one place), and
a batch whose rows no step reads one by one (the usual file: no creation dates to read, every
value known) makes none: making them took as long as scoring the batch without reasons.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, overload


class ColumnRows(Sequence[dict[str, Any]]):
    """Rows (field → value) held as `columns`: `self[i][name]` is `columns[name][i]`. Each
    row's dict is made on first read and kept, so reading a row twice gives the same dict.
    The rows are read, not changed: a step that changes rows makes new ones (a plain list),
    and the columns are then never read for rows they no longer match."""

    __slots__ = ("_made", "_n", "columns")

    def __init__(self, columns: Mapping[str, list[Any]]) -> None:
        self.columns = dict(columns)
        lengths = {len(values) for values in self.columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"columns of different lengths: {sorted(lengths)}")
        self._n = lengths.pop() if lengths else 0
        self._made: dict[int, dict[str, Any]] = {}

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, i: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, i: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, i: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._n))]
        if i < 0:
            i += self._n
        row = self._made.get(i)
        if row is None:
            if not 0 <= i < self._n:
                raise IndexError("row index out of range")
            row = self._made[i] = {name: values[i] for name, values in self.columns.items()}
        return row

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return map(self.__getitem__, range(self._n))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ColumnRows | list):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # rows compare by value, as a list's do


def column_of(rows: Sequence[Mapping[str, Any]], name: str) -> list[Any] | None:
    """The values of `name` in row order where `rows` holds them as a column, else None (read
    them from the rows)."""
    return rows.columns.get(name) if isinstance(rows, ColumnRows) else None
