"""Stages are configuration: each dataset declares its ordered open stages and its two outcomes."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

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
        ignoring case and the spaces around it ("closed won " is the alias "Closed Won")."""
        if name in self.aliases:
            return self.aliases[name]
        loose = str(name).strip().casefold()
        for stage in self.all_stages:
            if stage == name or stage.casefold() == loose:
                return stage
        for alias, stage in self.aliases.items():
            if alias.strip().casefold() == loose:
                return stage
        raise UnknownStage(f"unknown stage {name!r}; expected one of {list(self.all_stages)}")

    def without_pipeline(self, values: Iterable[object]) -> dict[object, str]:
        """Of stage values not known as they are, those that are a known stage followed by a
        pipeline's name in brackets, as HubSpot names the stages of several pipelines ("Closed
        won (Renewals)"): value → the stage."""
        out: dict[object, str] = {}
        for value in values:
            m = PIPELINE_SUFFIX.fullmatch(str(value))
            if m is not None and self.is_known(m["stage"]):
                out[value] = self.canonical(m["stage"])
        return out

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
