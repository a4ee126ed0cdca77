"""An item chosen for a digest: what the selection (digests.select) learnt about it, and what the story step
(digests.stories) sets on it. Its own module so that both import it, neither the other."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any


@dataclass
class Pick:
    """One item chosen for a digest, with what the selection learnt about it."""

    row: dict[str, Any]
    rank_score: int
    age_days: float
    find_themes: Callable[[], set[str]]              # computed when a filter asks (matching keywords costs)
    source_type: str = ""                           # the type of the source that told it (sources.yaml)
    also: int = 0                                   # other sources that told the same story
    also_sources: list[str] = field(default_factory=list)  # their ids
    folded: list[int] = field(default_factory=list)  # items of the same story shown through this one
    earliest: str | None = None                     # the story's first publication (ISO), when known
    indicator: Any = None                           # digests.indicators.Indicator, in an indicator section

    @property
    def id(self) -> int:
        return self.row["id"]

    @cached_property
    def themes(self) -> set[str]:
        return self.find_themes()

    @property
    def labels(self) -> set[str]:
        return {label["label"] for label in self.row["labels"]}

    @property
    def companies(self) -> set[str]:
        return set(self.row["companies"]) | ({self.row["actor_competitor"]} if self.row["actor_competitor"] else set())

    @property
    def is_competitor_move(self) -> bool:
        return bool(self.row["actor_competitor"]) and any(l["axis"] == "moves" for l in self.row["labels"])
