"""A story in a digest: shown once, through the item that suits the audience, with the outlets that also told it.

Selection ranks stories by their best item (`digests.select`); this module then chooses which of the story's items
the audience reads: one in its language when there is one (an outlet's rather than the company's own newsroom),
else the one from the best-graded source, and names the other sources ("également repris par A, B et C") with
the story's earliest date.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from digests.picks import Pick
    from watch.config import Audience, Config

_GRADES = "ABCDEF"  # Admiralty reliability, best first; F (cannot be judged) last


def show_stories(config: Config, store: Any, audience: Audience, picks: list[Pick], blocked: set[str]) -> None:
    """Give each pick the story member to show, the other sources that told it and the story's earliest date.

    Members from `blocked` sources (internal-only sources for an external audience) are never shown nor named. The
    pick keeps its rank: the story earned its place through its best item, whichever item is shown.
    """
    grades = {source.id: source.reliability for source in config.sources}
    newsrooms = {source.id for source in config.sources if source.type == "competitor"}
    members = store.story_members(pick.row["story"] for pick in picks)
    carried = store.story_sources(pick.row["story"] for pick in picks)
    for pick in picks:
        story = pick.row["story"]
        visible = [m for m in members.get(story, []) if not blocked & {m["source"], *m["sources"]}]
        if visible:
            shown = min(visible, key=lambda m: _preference(m, pick, audience.language, grades, newsrooms))
            if shown["id"] != pick.id:
                pick.folded = [pick.id, *(i for i in pick.folded if i != shown["id"])]
                pick.row = shown
            pick.folded = sorted({*pick.folded, *(m["id"] for m in visible)} - {pick.id})
            dates = [m["published_at"] for m in visible if m["published_at"]]
            pick.earliest = min(dates, default=None)
        told = (set(pick.row["sources"]) | carried.get(story, set())) - blocked - {pick.row["source"]}
        pick.also_sources = sorted(told)
        pick.also = len(told)


def _preference(member: dict[str, Any], pick: Pick, language: str, grades: dict[str, str], newsrooms: set[str]
                ) -> tuple:
    """Sort key, best first: the audience's language, then an independent outlet before a company's own newsroom
    (which tells what the company wants told), then the source's grade, then the item the ranking chose, then the
    higher score and the earlier report."""
    grade = grades.get(member["source"], "F")
    return (member["lang"] != language, member["source"] in newsrooms,
            _GRADES.index(grade) if grade in _GRADES else len(_GRADES),
            member["id"] != pick.id, -(member["score"] or 0), member["published_at"] or "", member["id"])
