"""Which of an export's columns each field reads: the mapping's names matched to the file's
(ignoring case and spaces, or by `column_aliases`), `first_of` fields' columns, the per-stage
entry-date and time-in-stage columns, and the `features:` kept; a required column the file
lacks is `InvalidInput` naming it and the columns the file has.

`ExportColumns` is the part of an import job (`forecast.data.importing`) that checks a chunk's
header; the job supplies the mapping, the report and the joined files.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pandas as pd

from forecast.data.attributes import matched_columns
from forecast.data.derived_columns import HashOf
from forecast.data.draft_names import DEAL_NAMES, matched
from forecast.data.header_encoding import encoding_hint
from forecast.data.mapping import CsvOptions, Mapping, loose_key
from forecast.data.stages import StageSet
from forecast.data.validation import ImportReport
from forecast.errors import InvalidInput

#: What `forecast draft-mapping` writes where it found no column for a field.
DRAFT_BLANK = "???"
#: The most columns the "not read" note names; past it, it counts the rest ("and 40 more"): a
#: wide export (a Salesforce object's hundreds of fields) would bury the other notes.
UNREAD_SHOWN = 200
#: The fields figures are grouped by (`--by`), whose unread look-alike columns the note names.
GROUPING_FIELDS = ("team", "region", "product", "owner")


def refuse_draft_blanks(mapping: Mapping, columns: dict[str, str]) -> None:
    """Refuse a mapping that leaves a draft's blank (`DRAFT_BLANK`) for a field's column or an
    outcome, naming each: before its stages are read, whose check would see two outcomes of the
    same name ('???') and say nothing of the draft."""
    blanks = [f for f, c in columns.items() if c == DRAFT_BLANK]
    stages = mapping.stages or {}
    # An outcome left blank reads every deal that reached it as open; an open stage left
    # blank (a file of closed deals only) names no row and changes nothing.
    blanks += [f"stages.{k}" for k in ("won", "lost") if stages.get(k) == DRAFT_BLANK]
    if blanks:
        raise InvalidInput(
            f"the mapping leaves {blanks} as {DRAFT_BLANK!r} (a draft's blank): name the "
            "file's column for each field, or remove the line where the file has none; name "
            "each outcome as the file writes it (one the file never holds, by a name of "
            "your own, e.g. lost: Lost)"
        )


class ExportColumns:
    """The header checks of an import job (the job sets the fields)."""

    mapping: Mapping
    report: ImportReport
    columns: dict[str, str]
    features: dict[str, str]
    stages: StageSet | None
    csv: CsvOptions
    joins: list[tuple[str, pd.DataFrame, bool, bool]]
    checked_header: bool
    stage_dates: dict[str, str]
    stage_durations: dict[str, str]
    first_of: dict[str, list[str]]
    generated_id: HashOf | None
    whole_row_ids: bool
    #: The copies of a column the header names twice (pandas' "Lead Source.1"): left out.
    copies: frozenset[str] = frozenset()

    def _check_columns(self, raw: pd.DataFrame, file: Path) -> None:
        refuse_draft_blanks(self.mapping, self.columns)
        available = set(raw.columns) | {c for _, j, _, _ in self.joins for c in j.columns}
        self._match_first_of(available, file)
        if self.mapping.kind == "leads" and "id" not in self.columns:
            self._id_from_whole_rows(raw)
        needed = [self.columns[f] for f in self.mapping.required_fields if f in self.columns]
        missing_fields = [f for f in self.mapping.required_fields if f not in self.columns]
        if missing_fields:
            hint = (
                "; an export without ids can hash one from columns that name a row: "
                "id: {hash_of: [Email, Created]}"
                if "id" in missing_fields
                else ""
            )
            raise InvalidInput(
                f"mapping gives no column for required field(s) {missing_fields}{hint}"
            )
        if self.mapping.columns != "canonical":
            self._match_columns(available)
            needed = [*self.columns.values(), *self.mapping.stage_dates.values()]
            generated = self.generated_id
            if generated is not None:
                needed.remove(generated.column_name)
                needed += generated.hash_of
            for rule in self.mapping.combined_columns.values():
                needed.remove(rule.column_name)  # each of its columns is checked on its own
            if self.mapping.derived_label is not None:
                needed.remove(self.mapping.derived_label.column_name)
        else:
            self.columns = {f: c for f, c in self.columns.items() if c in available}
        missing = [c for c in dict.fromkeys(needed) if c not in available]
        if missing:
            raise InvalidInput(
                f"{file}: {self._missing_said(missing, available)}; the file has "
                f"{sorted(c for c in raw.columns if c != '__line')}"
                f"{encoding_hint(raw.columns, self.csv, missing)}"
            )
        try:
            self.features = matched_columns(self.features, available)
        except ValueError as exc:
            raise InvalidInput(f"{file}: {exc}") from None
        if self.checked_header:
            return
        self.checked_header = True
        if self.features:
            self.report.notes.append(
                f"features: {len(self.features)} column(s) of the export kept as model inputs "
                f"({', '.join(self.features)})"
            )
        if self.mapping.stage_entered_columns:
            self._stage_entered_columns(available)
        if self.mapping.kind == "opportunities" and self.mapping.columns != "canonical":
            self._unread_note(raw)
        else:  # every column is read (a lead's attributes; canonical names): copies left out
            self.copies = frozenset(self._alike(raw, set(self.columns.values())))
        if self.mapping.stage_duration_columns:
            self.stage_durations = self._per_stage_columns(
                self.mapping.stage_duration_columns, available
            )
            if self.stage_durations:
                shown = self.mapping.stage_duration_columns.format(stage="<stage>")
                self.report.notes.append(
                    f"stage entry dates rebuilt from {len(self.stage_durations)} {shown!r} "
                    "column(s) where no entry date is given"
                )

    def _id_from_whole_rows(self, raw: pd.DataFrame) -> None:
        """A lead file without ids (a public data set, a form's rows): each lead's id is a hash of
        its whole row but the label and `updated_at`, which change as a lead is worked, so a
        re-import of the same rows finds the same leads; identical rows are numbered."""
        if self.generated_id is None:
            changing = set()
            for f in ("converted", "updated_at"):
                rule = self.mapping.combined_columns.get(f)
                named = rule.first_of if rule else [self.columns.get(f)]
                names_of = [*named, *self.mapping.column_aliases.get(f, [])]
                changing |= {loose_key(n) for n in names_of if n}
            names = [c for c in raw.columns if c != "__line" and loose_key(c) not in changing]
            self.generated_id = HashOf(hash_of=names)
            self.whole_row_ids = True
            self.report.note(
                f"no id column: each lead's id is a hash of its row's {len(names)} columns (the "
                "label and updated_at left out), identical rows numbered; a lead whose other "
                "values change in a later export is a new lead there: map `id:` to a column, or "
                "`id: {hash_of: [...]}` to columns that do not change"
            )
        self.columns["id"] = self.generated_id.column_name

    def _alike(self, raw: pd.DataFrame, read: set[str]) -> dict[str, str]:
        """The copies of a column a header names twice (pandas reads the second "Amount" as
        "Amount.1"), said in the file's words, with their places in the header: the first of
        each is read. A column a mapping reads is no copy (a mapping may read the second on
        purpose)."""
        alike = {
            c: m["name"]
            for c in map(str, raw.columns)
            if (m := re.fullmatch(r"(?P<name>.+)\.\d+", c)) is not None
            and m["name"] in raw
            and c not in read
        }
        if alike:
            header = [str(c) for c in raw.columns if c != "__line"]
            places = {
                name: [header.index(name) + 1]
                + [header.index(c) + 1 for c in alike if alike[c] == name]
                for name in dict.fromkeys(alike.values())
            }
            shown = "; ".join(
                f"{name!r} {len(at)} times (columns {', '.join(map(str, at[:-1]))} and {at[-1]})"
                for name, at in places.items()
            )
            self.report.note(
                f"the header names a column more than once: {shown}; the first of each is "
                "read, the others left out"
            )
        return alike

    def _unread_note(self, raw: pd.DataFrame) -> None:
        """The export's columns no field, feature, rule or stage date reads: said, so that a
        user who expected a model to learn from one ("Lead Source") knows to keep it."""
        mapping = self.mapping
        read = {*self.columns.values(), *self.features.values(), *mapping.stage_dates.values()}
        read |= {*mapping.drop_columns, *mapping.skip_rows, *mapping.keep_rows, "__line"}
        read |= set(mapping.value_fixes)
        for rule in mapping.combined_columns.values():
            read |= set(rule.first_of)
        if self.generated_id is not None:
            read |= set(self.generated_id.hash_of)
        pattern = "|".join(
            re.escape(p).replace(re.escape("{stage}"), ".+")
            for p in (*mapping.entered_patterns, mapping.stage_duration_columns)
            if p
        )
        alike = self._alike(raw, read)
        unread = [
            str(c)
            for c in raw.columns
            if c not in read and c not in alike and not (pattern and re.fullmatch(pattern, str(c)))
        ]
        if unread:
            shown = ", ".join(repr(c) for c in unread[:UNREAD_SHOWN])
            if len(unread) > UNREAD_SHOWN:
                shown += f" and {len(unread) - UNREAD_SHOWN} more"
            self.report.notes.append(
                f"not read: {len(unread)} column(s) of the export ({shown}); a mapping's "
                "`features:` keeps a column as a model input" + self._grouping_hint(unread)
            )

    def _grouping_hint(self, unread: list[str]) -> str:
        """The unread columns named as a field the figures are grouped by (a Salesforce
        report's custom "Sales Team" beside the built-in mapping, which reads no team): said,
        with how to read each, since `--by team` would otherwise show one "(none)" line."""
        if self.mapping.kind != "opportunities":
            return ""
        wanted = {f: DEAL_NAMES[f] for f in GROUPING_FIELDS if f not in self.columns}
        found = matched(unread, wanted)
        if not found:
            return ""
        said = "; ".join(f"{c!r} looks like the {f}" for f, c in found.items())
        lines = ", ".join(f"{f}: {c}" for f, c in found.items())
        return (
            f"; {said}, which this mapping does not read (figures per {', '.join(found)} "
            f"show one '(none)' line): add `{lines}` under a mapping's `columns:`, or "
            "`forecast draft-mapping` the file for one that reads it"
        )

    def _missing_said(self, missing: list[str], available: set[str]) -> str:
        """The mapped columns the file lacks, each with the fields that name it and the file's
        closest header: a required field's as missing, an optional field's as a name to correct
        (a typo in `owner:` is the mapping's mistake, not a required column)."""
        named: dict[str, list[str]] = {}
        for f, column in self.columns.items():
            named.setdefault(column, []).append(f)
        for stage, column in self.mapping.stage_dates.items():
            named.setdefault(column, []).append(f"stage_dates: {stage}")
        if self.generated_id is not None:
            for column in self.generated_id.hash_of:
                named.setdefault(column, []).insert(0, "id (hash_of)")
        required = {*self.mapping.required_fields, "id (hash_of)"}
        header = sorted(c for c in available if c != "__line")
        needed = [c for c in missing if required & set(named.get(c, [])) or c not in named]
        others = [c for c in missing if c not in needed]
        said = []
        if needed:
            shown = "; ".join(f"{', '.join(named.get(c, []))}{closest(c, header)}" for c in needed)
            said.append(f"missing required column(s) {needed} ({shown})")
        if others:
            shown = "; ".join(
                f"{' and '.join(named[c])}: {c!r}{closest(c, header)}" for c in others
            )
            said.append(
                f"the mapping names column(s) the file does not have ({shown}): correct the "
                "name, or drop the line if the export has no such column"
            )
        return "; ".join(said)

    def _match_columns(self, available: set[str]) -> None:
        """Mapped names matched to the file's ignoring case and spaces ("Deal Owner" for "Deal
        owner": CRMs relabel their exports) or by the mapping's `column_aliases`, and optional
        fields without a column let go."""
        loose = {loose_key(c): c for c in available if c != "__line"}
        absent = []
        for f, column in list(self.columns.items()):
            if column in available or (self.generated_id and f == "id"):
                continue
            if f in self.mapping.combined_columns:
                continue
            if self.mapping.derived_label is not None and f == "converted":
                continue
            names = [column, *self.mapping.column_aliases.get(f, [])]
            found = [loose[loose_key(n)] for n in names if loose_key(n) in loose]
            if found:
                self.columns[f] = found[0]
            elif f in self.mapping.optional_fields:
                del self.columns[f]
                absent.append(f"{' or '.join(repr(n) for n in names)} ({f})")
            elif f == "converted" and self.mapping.kind == "leads":
                del self.columns[f]  # new leads: no outcome yet
                near = closest(column, sorted(set(loose.values())))
                self.report.note(
                    f"no {column!r} column (converted): the leads have no outcome yet; they "
                    "are scored, never learnt from (if the file names the outcome "
                    f"otherwise, map converted: to that column{near})"
                )
            elif f == "converted_at" and self.mapping.kind == "leads":
                del self.columns[f]  # new leads: no conversion yet, nor its date's column
                self.report.note(
                    f"no {column!r} column (converted_at): no lead has a conversion date; "
                    "leads are read as the other columns say (new leads to score need none)"
                )
        if absent and not self.checked_header:
            self.report.notes.append(f"not in the export, left blank: {', '.join(absent)}")

    def _stage_entered_columns(self, available: set[str]) -> None:
        """The mapping's "Date entered {stage}" columns the file has, by open stage: each deal's
        stage history is rebuilt from them (a flat export has no other)."""
        assert self.stages is not None
        patterns = self.mapping.entered_patterns
        for pattern in patterns:  # HubSpot's labels, then its API names
            for stage, column in self._per_stage_columns(pattern, available).items():
                self.stage_dates.setdefault(stage, column)
        shown = " or ".join(repr(p.format(stage="<stage>")) for p in patterns)
        if self.stage_dates:
            self.report.notes.append(
                f"stage history rebuilt from {len(self.stage_dates)} {shown} column(s)"
            )
        else:
            self.report.notes.append(
                f"no {shown} columns: a flat export, so each open deal's stage is known only "
                "as of its last modification, and closed deals only by their outcome"
            )

    def _per_stage_columns(self, pattern: str, available: set[str]) -> dict[str, str]:
        """The file's columns named by `pattern` ("Date entered {stage}"), by open stage."""
        assert self.stages is not None
        names = {s: s for s in self.stages.open_stages}
        names |= {a: s for a, s in self.stages.aliases.items() if s in self.stages.open_stages}
        wanted = {loose_key(pattern.format(stage=name)): stage for name, stage in names.items()}
        found: dict[str, str] = {}
        for column in sorted(available - {"__line"}):
            # HubSpot may add the pipeline: "Date entered Contract Sent (Sales Pipeline)"
            key = loose_key(re.sub(r"\s*\([^)]*\)\s*$", "", column))
            stage = wanted.get(key) or wanted.get(loose_key(column))
            if stage is not None and stage not in found:
                found[stage] = column
        return found

    def _match_first_of(self, available: set[str], file: Path) -> None:
        """Each `first_of` field's columns matched to the file's ignoring case and spaces, as
        other mapped names are; a column the file lacks is an error naming the field."""
        loose = {loose_key(c): c for c in available if c != "__line"}
        for f, rule in self.mapping.combined_columns.items():
            lacking = [c for c in rule.first_of if c not in available and loose_key(c) not in loose]
            if lacking:
                header = sorted(c for c in available if c != "__line")
                near = "".join(closest(c, header) for c in lacking)
                raise InvalidInput(
                    f"{file}: {f}: first_of names column(s) the file does not have {lacking}"
                    f"{near}; the file has {header}"
                )
            self.first_of[f] = [c if c in available else loose[loose_key(c)] for c in rule.first_of]


def closest(column: str, header: list[str]) -> str:
    """ "; did you mean 'Deal - Owner'?" for the file's header nearest a mapped column's name
    (compared ignoring case, spaces and dashes), or nothing where none is near."""
    keys = {loose_key(h): h for h in header}
    near = difflib.get_close_matches(loose_key(column), list(keys), n=1, cutoff=0.75)
    return f"; did you mean {keys[near[0]]!r}?" if near else ""
