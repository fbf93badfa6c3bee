"""Stages are configuration: each dataset declares its ordered open stages and its two outcomes."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from forecast.data.loose import loose
from forecast.errors import InvalidInput, UnknownStage

WON = "won"
LOST = "lost"
OPEN = "open"
#: A stage value followed by its pipeline's name in brackets ("Closed lost (Sales Pipeline)").
PIPELINE_SUFFIX = re.compile(r"(?P<stage>.*\S)\s*\([^()]*\)\s*")


@dataclass(frozen=True)
class StageSet:
    """Ordered open stages, then the won and lost outcomes."""

    open_stages: tuple[str, ...]
    won: str = "Won"
    lost: str = "Lost"
    aliases: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        names = [*self.open_stages, self.won, self.lost]
        if not self.open_stages:
            raise InvalidInput("a stage set needs at least one open stage")
        if len(set(names)) != len(names):
            raise InvalidInput(f"stage names must be distinct, got {names}")

    @property
    def all_stages(self) -> tuple[str, ...]:
        return (*self.open_stages, self.won, self.lost)

    def canonical(self, name: str) -> str:
        """The configured name for a raw stage name: exact, an alias, or either compared
        ignoring case and the spaces around it ("closed won " is the alias "Closed Won"); or
        such a name followed by its pipeline's in brackets, as HubSpot names the stages of
        several pipelines ("Closed won (Renewals)")."""
        found = self._named(name)
        if found is None and (m := PIPELINE_SUFFIX.fullmatch(str(name))) is not None:
            found = self._named(m["stage"])
        if found is None:
            raise UnknownStage(f"unknown stage {name!r}; expected one of {list(self.all_stages)}")
        return found

    def _named(self, name: str) -> str | None:
        if name in self.aliases:
            return self.aliases[name]
        key = loose(name)
        for stage in self.all_stages:
            if stage == name or loose(stage) == key:
                return stage
        for alias, stage in self.aliases.items():
            if loose(alias) == key:
                return stage
        return None

    def pipeline_named(self, values: Iterable[object]) -> dict[object, str]:
        """Of stage values, those known only by the name before their bracketed pipeline: value
        → the stage (what an import says it read so)."""
        return {
            v: self.canonical(str(v))
            for v in values
            if self._named(str(v)) is None and self.is_known(str(v))
        }

    def is_known(self, name: str) -> bool:
        try:
            self.canonical(name)
        except UnknownStage:
            return False
        return True

    def status(self, stage: str) -> str:
        """`open`, `won` or `lost` for a canonical stage name."""
        if stage == self.won:
            return WON
        if stage == self.lost:
            return LOST
        return OPEN

    def order(self, stage: str) -> int:
        """Position in the funnel; both outcomes sit after the last open stage."""
        if stage in (self.won, self.lost):
            return len(self.open_stages)
        return self.open_stages.index(stage)

    def to_dict(self) -> dict:
        return {
            "open": list(self.open_stages),
            "won": self.won,
            "lost": self.lost,
            "aliases": dict(self.aliases),
        }

    @classmethod
    def from_dict(cls, data: dict) -> StageSet:
        try:
            return cls(
                open_stages=tuple(data["open"]),
                won=data.get("won", "Won"),
                lost=data.get("lost", "Lost"),
                aliases=dict(data.get("aliases") or {}),
            )
        except (KeyError, TypeError) as exc:
            raise InvalidInput(f"stage set needs 'open' (a list of names): {exc}") from exc


DEFAULT_STAGES = StageSet(
    open_stages=("Prospecting", "Qualification", "Presentation", "Demonstration", "Closing")
)
