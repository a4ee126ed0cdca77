"""Theme matching (nlp/themes.py): a theme is what an item is about, not a word it uses in passing (issue 21)."""

from __future__ import annotations

from nlp.themes import matched_themes, theme_patterns
from watch.config import parse_config

CONFIG = """\
company: {name: Testco}
themes:
  - {id: prices, label: {fr: Prix et marché, en: Prices and market}, priority: 1,
     keywords: {fr: [prix, tarif, ventes], en: [price, range]}}
  - {id: cargo, label: Vélo cargo, keywords: {fr: [vélo cargo, biporteur, livraison]}}
sources:
  - {id: press, name: Presse, url: "http://press.example/rss", themes: [prices, cargo]}
"""


def patterns():
    return theme_patterns(parse_config(CONFIG, "sources.yaml").themes)


def test_one_passing_keyword_is_not_a_theme():
    # "prix" once in the body of a hiring story: the demo cited "Prix et marché" as the reason of such items.
    assert matched_themes(patterns(), "Veloce recrute 60 personnes",
                          "Le site de Saint-Étienne ouvre 60 postes. Les salariés gardent leur prime.",
                          "Une fois par an, un prix récompense le meilleur monteur.") == []


def test_a_keyword_in_the_title_or_lead_or_two_in_the_summary_make_a_theme():
    assert matched_themes(patterns(), "Rouléo baisse ses prix", "") == ["prices"]  # plural of a keyword
    assert matched_themes(patterns(), "Rouléo à Nantes", "Un biporteur pour Colis Express. Rien d'autre.") == ["cargo"]
    later = "Rouléo à Nantes. Une flotte neuve. Les biporteurs serviront à la livraison du dernier kilomètre."
    assert matched_themes(patterns(), "Rouléo à Nantes", later) == ["cargo"]  # two keywords after the lead
    assert matched_themes(patterns(), "Rouléo à Nantes", "Une flotte neuve. Les biporteurs arrivent.") == []


def test_whole_words_only_and_declared_themes_count():
    assert matched_themes(patterns(), "How to arrange a bike shop", "") == []  # "range" is not in "arrange"
    assert matched_themes(patterns(), "Dealers widen their range", "") == ["prices"]
    assert matched_themes(patterns(), "Note de salon", "", declared=["cargo"]) == ["cargo"]  # a field note says so


def test_a_theme_has_a_name_per_language():
    theme = parse_config(CONFIG, "sources.yaml").themes[0]
    assert theme.label == "Prix et marché" and theme.label_in("en") == "Prices and market"
    assert theme.label_in("fr") == "Prix et marché"
    assert parse_config(CONFIG, "sources.yaml").themes[1].label_in("en") == "Vélo cargo"  # only one given
