"""Fields a mapping derives from columns rather than reads from one: an id hashed from a row's
values (`hash_of`), a field read from the first non-blank of several columns (`first_of`), and a
lead label from another file (`exists_in`). Each goes by a `column_name` in import reports."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class HashOf(BaseModel):
    """`id: {hash_of: [col, ...]}`: an id made from these columns' values, the same on every
    import of the same row (for exports without an id column)."""

    model_config = ConfigDict(extra="forbid")
    hash_of: list[str] = Field(min_length=1)

    @property
    def column_name(self) -> str:
        """The name the generated id goes by in reports."""
        return f"hash_of({', '.join(self.hash_of)})"


class FirstOf(BaseModel):
    """`closed_at: {first_of: [Won time, Lost time]}`: a field read from the first of these
    columns that is not blank, in order (an export that splits one field over several columns,
    each row filling one, as Pipedrive's won and lost times)."""

    model_config = ConfigDict(extra="forbid")
    first_of: list[str] = Field(min_length=1)

    @property
    def column_name(self) -> str:
        """The name the combined column goes by in reports."""
        return f"first_of({', '.join(self.first_of)})"


class ExistsIn(BaseModel):
    """`converted: {exists_in: {file, column, where}}`: a lead's label derived from another
    file: 1 when its id appears in that file's `column` (in rows matching `where`, e.g. the
    deals won), else 0. For lead exports that carry no outcome of their own."""

    model_config = ConfigDict(extra="forbid")
    file: str = Field(min_length=1, description="a file beside the export (CSV or Parquet)")
    column: str = Field(min_length=1, description="its column holding the lead ids")
    where: dict[str, list[str]] = Field(
        default_factory=dict, description="only rows whose column holds one of these values"
    )

    @property
    def column_name(self) -> str:
        """The name the derived label goes by in reports."""
        return f"exists_in({self.file}:{self.column})"
