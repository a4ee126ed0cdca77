"""The sections of each role's digest, as defaults that an audience's `sections:` in sources.yaml replaces.

An item goes to the first `items` section that wants it (digests.select.wants: the section's own themes,
competitors and labels replace the audience's), in the order listed, so specific sections come before general
ones and each role ends with a catch-all: an item that interests the audience is never dropped because no section
named it. Indicator sections take the statistics of institutional sources that measure an indicator of a
followed theme (digests.indicators).
"""

from __future__ import annotations

from watch.config import Audience, Section
from watch.i18n import NC_, tx_p_in

# The default sections' titles (msgids, msgctxt "section"); an audience's own `title:` is shown as written.
TITLES: dict[str, str] = {
    "top": NC_("section", "What matters most"),
    "indicators": NC_("section", "Market indicators"),
    "competitors": NC_("section", "Competitor moves at a glance"),
    "trends": NC_("section", "Rising trends"),
    "health": NC_("section", "Source health"),
    "consumer": NC_("section", "Consumer behaviour"),
    "communication": NC_("section", "Communication trends"),
    "campaigns-prices": NC_("section", "Competitor campaigns and prices"),
    "moves": NC_("section", "Moves by competitor"),
    "prices": NC_("section", "Prices"),
    "field": NC_("section", "Field notes"),
    "technology": NC_("section", "Technology"),
    "offer": NC_("section", "Offer innovation"),
    "market-offer": NC_("section", "What the market offers"),
    "regulation": NC_("section", "Regulation"),
    "selection": NC_("section", "Selection"),
    "other": NC_("section", "Also worth noting"),
}


def _s(section_id: str, **fields) -> Section:
    return Section(id=section_id, **fields)


ROLE_SECTIONS: dict[str, tuple[Section, ...]] = {
    "direction": (
        _s("top", max_items=5),
        _s("competitors", competitor_moves=True, layout="compact", group_by="competitor"),
        _s("indicators", indicators=True, source_types=["institutional"], max_items=3),
        _s("trends", kind="trends"),
        _s("other"),
        _s("health", kind="health"),
    ),
    "marketing": (
        _s("indicators", indicators=True, source_types=["institutional"], max_items=3),
        _s("consumer", labels=["consumer"]),
        _s("campaigns-prices", labels=["campaign", "pricing"], competitor_moves=True),
        _s("communication", labels=["communication", "campaign"]),
        _s("market-offer", labels=["offer", "launch"]),
        _s("other"),
    ),
    "commercial": (
        _s("moves", competitor_moves=True, group_by="competitor"),
        _s("prices", labels=["pricing"]),
        _s("field", source_types=["field"]),
        _s("other"),
    ),
    "rd": (
        _s("technology", labels=["technology"]),
        _s("offer", labels=["offer", "launch"]),
        _s("regulation", labels=["regulation"]),
        _s("other"),
    ),
    "partners": (_s("regulation", labels=["regulation"]), _s("selection")),
    "custom": (_s("selection"),),
}


def sections_for(audience: Audience) -> tuple[Section, ...]:
    """The audience's own sections when configured, else its role's defaults."""
    return tuple(audience.sections) if audience.sections else ROLE_SECTIONS[audience.role]


def section_title(section: Section, lang: str) -> str:
    if isinstance(section.title, str):
        return section.title
    if not section.title and section.id in TITLES:
        return tx_p_in(lang, "section", TITLES[section.id])
    titles = section.title or {}
    return titles.get(lang) or titles.get("fr") or next(iter(titles.values()), section.id)
