"""The sections of each role's digest, as defaults that an audience's `sections:` in sources.yaml replaces.

An item goes to the first `items` section that wants it (digests.select.wants: the section's own themes,
competitors and labels replace the audience's), in the order listed, so specific sections come before general
ones and each role ends with a catch-all: an item that interests the audience is never dropped because no section
named it. Indicator sections take the statistics of institutional sources that measure an indicator of a
followed theme (digests.indicators).
"""

from __future__ import annotations

from watch.config import Audience, Section

TITLES: dict[str, dict[str, str]] = {
    "top": {"fr": "L'essentiel", "en": "What matters most"},
    "indicators": {"fr": "Indicateurs du marché", "en": "Market indicators"},
    "competitors": {"fr": "Les concurrents en un coup d'œil", "en": "Competitor moves at a glance"},
    "trends": {"fr": "Tendances montantes", "en": "Rising trends"},
    "health": {"fr": "État des sources", "en": "Source health"},
    "consumer": {"fr": "Comportements des clients", "en": "Consumer behaviour"},
    "communication": {"fr": "Tendances de communication", "en": "Communication trends"},
    "campaigns-prices": {"fr": "Campagnes et prix des concurrents", "en": "Competitor campaigns and prices"},
    "moves": {"fr": "Mouvements par concurrent", "en": "Moves by competitor"},
    "prices": {"fr": "Prix", "en": "Prices"},
    "field": {"fr": "Remontées du terrain", "en": "Field notes"},
    "technology": {"fr": "Technologie", "en": "Technology"},
    "offer": {"fr": "Innovation de l'offre", "en": "Offer innovation"},
    "market-offer": {"fr": "L'offre du marché", "en": "What the market offers"},
    "regulation": {"fr": "Réglementation", "en": "Regulation"},
    "selection": {"fr": "Sélection", "en": "Selection"},
    "other": {"fr": "À signaler aussi", "en": "Also worth noting"},
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
    titles = section.title or TITLES.get(section.id) or {}
    return titles.get(lang) or titles.get("fr") or next(iter(titles.values()), section.id)
