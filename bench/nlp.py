#!/usr/bin/env python
"""Benchmark of `veille classify` over many stored items, against bare `nlp.pipe` of `fr_core_news_sm`.

Generates N realistic business-news items (default 20,000; a title plus a ~60-word summary; about 60 % French and
40 % English; competitor moves such as acquisitions, price changes, fundraising, hiring, launches, and market
trends), deterministically from phrase banks and a seeded RNG. Some events are told by two or three sources (in
different words, sometimes in both languages), as in a real watch, so that story grouping has work to do.
The items are loaded into a fresh veille database through the real ingest path (`Store.ingest`, origin "feed",
the sources of the repo's sources.yaml), then each step runs in its own fresh process on its own copy of that
database:

  (1) `veille --config X classify` with the model packages (fr_core_news_sm; English blank + lookups unless
      en_core_web_sm is installed);
  (2) the same with `nlp: {models: false}` in X: blank pipelines plus rules;
  (3) the baseline: `spacy.load("fr_core_news_sm")` then `for doc in nlp.pipe(texts): pass` over the same
      title + summary texts, read back from the database (only the pipe loop is timed; load time is printed);
  (p1), (p2) information: the stage's entry function `nlp.stage.classify` run in-process with the config of (1)
      and (2), its phases timed by wrapping the functions it calls (model loading, language detection, textcat,
      spaCy + rules, store reads and writes, story grouping, scoring). Skip them with --no-phases.

Targets (from the issue): (1) at least 0.75 of (3)'s throughput and at least 80 items/s (both cores may be used);
(2) at least 1,000 items/s; peak memory of (1) and (2) under 1 GB.

Wall times of (1) and (2) are the whole command, interpreter start-up, imports and model loading included (what a
user waits for); (3) times only its loop, so the ratio (1)/(3) is conservative. Peak memory is the maximum resident
set size that os.wait4() reports for the step's process (on Linux, the largest of that process and any child it
waited for; not their sum).

This prints figures; it is not a test. It exits 0 whatever the figures, 1 when the run itself broke (a command
that crashed, a database left unclassified). Run it with the project's interpreter:

    .venv/bin/python bench/nlp.py                   # 20,000 items
    .venv/bin/python bench/nlp.py --items 2000      # quick look
    .venv/bin/python bench/nlp.py --items 2000 --profile 25   # plus a cProfile of the stage, top 25 functions
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

from measure import run_measured, veille_command  # noqa: E402 (bench/ is on sys.path)
from stories import child_grouping  # noqa: E402 (bench/stories.py, step 4)

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's folder comes first on sys.path and this file, named nlp.py, would shadow the `nlp`
# package: put the project root first instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))
TARGET_RATIO_VS_BARE = 0.75
TARGET_MODELS_RATE = 80.0
TARGET_BLANK_RATE = 1000.0
TARGET_PEAK_MB = 1000.0
TARGET_GROUPING_S = 2.0       # issue #14: 1,000 new items against a 20,000-item window
FR_SHARE = 0.6

# -- phrase banks --------------------------------------------------------------------------------------------------
# Companies: the demo competitors (under their names and aliases, as outlets spell them), our own company, and other
# real or plausible players of the e-bike sector. Each is (name as written, is a demo competitor).

COMPETITORS = {
    "veloce": ["Veloce", "Veloce", "Veloce", "Vélocé SAS", "Veloce Bikes"],
    "rouleo": ["Rouléo", "Rouléo", "Rouleo", "Rouléo Mobilités"],
    "voltacycles": ["VoltaCycles", "VoltaCycles", "Volta Cycles", "Volta Cycles GmbH"],
    "mobishare": ["MobiShare", "MobiShare", "Mobi Share"],
}
OTHERS = ["Cyclonova", "Moustache Bikes", "Decathlon", "VanMoof", "Cowboy", "Bosch eBike Systems", "Shimano",
          "Gazelle", "Accell Group", "Riese & Müller", "Tern", "Lime", "Dott", "Brompton", "Arcade Cycles", "Angell",
          "Urban Arrow", "Yamaha", "Giant", "Trek", "Specialized", "Douze Cycles", "Pédalia", "Electra Mobilités",
          "CargoNord", "Batteria Systems", "Fenix Cargo", "Stromer", "Babboe", "Kalkhoff", "Intersport", "Cyclable",
          "Tier", "Bird", "Velco", "Olvid Cycles", "Ateliers Roux", "Nordwind Bikes", "Greenpack", "Veltra"]
PERSONS = ["Claire Martin", "Julien Morel", "Sophie Bernard", "Thomas Lefèvre", "Nadia Benali", "Marc Durand",
           "Anna Schmidt", "James Carter", "Laura Rossi", "Pieter de Vries", "Élodie Garnier", "Karim Haddad"]
PRODUCTS = ["Urbano 2", "Cargo Max", "Volt S", "City Flow", "Kargo L", "Commute+", "Trail E5", "Mini Cargo",
            "Longtail 9", "Bolt Pro", "Metro 7", "Duo Family"]
CITIES_FR = ["Lyon", "Nantes", "Roubaix", "Bordeaux", "Grenoble", "Strasbourg", "Toulouse", "Lille", "Angers",
             "Rennes", "Montpellier", "Dijon"]
CITIES_EN = ["Porto", "Rotterdam", "Leipzig", "Milan", "Gdansk", "Ghent", "Munich", "Barcelona", "Copenhagen",
             "Vienna", "Utrecht", "Lyon"]
COUNTRIES_FR = ["en Allemagne", "en Belgique", "aux Pays-Bas", "en Espagne", "en Italie", "au Royaume-Uni",
                "en Suisse", "au Danemark"]
COUNTRIES_EN = ["Germany", "Belgium", "the Netherlands", "Spain", "Italy", "the UK", "Switzerland", "Denmark"]
INSTITUTIONS_FR = ["l'Observatoire national du cycle", "l'Ademe", "Union Sport & Cycle", "le ministère des Transports",
                   "la Fédération des usagers de la bicyclette", "la Commission européenne", "l'Insee",
                   "la métropole de Lyon", "la Région Île-de-France"]
INSTITUTIONS_EN = ["the European Commission", "Conebi", "the Cycling Industries Europe association",
                   "the UK Department for Transport", "the German bicycle association ZIV", "Eurostat",
                   "the City of Amsterdam", "the European Cyclists' Federation"]

# Moves: per kind, title templates and lead-sentence templates per language. Slots: {a} actor, {o} other company,
# {m} millions, {pct}, {p} price, {p2} new price, {n} jobs, {city}, {country}, {prod}, {who}, {q} quarter.
MOVES = {
    "acquisition": {
        "fr": (["{a} rachète {o}", "{a} met la main sur {o}", "Rachat de {o} par {a} pour {m} millions d'euros",
                "{a} s'offre {o}", "{o} passe sous le contrôle de {a}", "Fusion en vue entre {a} et {o}"],
               ["{a} a annoncé le rachat de {o} pour un montant estimé à {m} millions d'euros.",
                "{a} prend le contrôle de {o}, spécialiste du vélo cargo installé à {city}, pour {m} millions d'euros.",
                "L'opération, d'un montant de {m} millions d'euros, permet à {a} d'absorber {o} et ses {n} salariés."]),
        "en": (["{a} acquires {o}", "{a} to buy {o} in ${m} million deal", "{a} snaps up {o}",
                "{o} agrees to ${m} million takeover by {a}", "{a} and {o} announce merger"],
               ["{a} has agreed to acquire {o} for about ${m} million, the companies said.",
                "{a} is taking over {o}, the {city}-based cargo bike maker, in a deal worth ${m} million.",
                "The ${m} million acquisition gives {a} control of {o} and its {n} employees."]),
    },
    "pricing": {
        "fr": (["{a} baisse ses prix de {pct} %", "{a} relève ses tarifs de {pct} %",
                "Le {prod} de {a} passe de {p} € à {p2} €", "{a} casse les prix de sa gamme cargo",
                "Hausse de prix chez {a}"],
               ["{a} annonce une baisse de prix de {pct} % sur l'ensemble de sa gamme, le {prod} passant de {p} € à {p2} €.",
                "À partir du mois prochain, {a} va augmenter ses prix de {pct} %, invoquant le coût des batteries.",
                "Le prix public du {prod} de {a} passe de {p} € à {p2} €, une remise qui vise les particuliers."]),
        "en": (["{a} cuts prices by {pct}%", "{a} raises prices {pct}% on its e-bikes",
                "{a} slashes {prod} price from €{p} to €{p2}", "Price hike at {a}"],
               ["{a} is cutting prices by {pct}% across its range, taking the {prod} from €{p} to €{p2}.",
                "{a} will raise list prices by {pct}% next month, citing higher battery and shipping costs.",
                "The {prod} now carries a price tag of €{p2} instead of €{p}, {a} said on its website."]),
    },
    "funding": {
        "fr": (["{a} lève {m} millions d'euros", "Levée de fonds de {m} millions pour {a}",
                "{a} boucle un tour de table de {m} millions d'euros", "{a} ouvre son capital à de nouveaux investisseurs"],
               ["{a} a bouclé une levée de fonds de {m} millions d'euros auprès de fonds de capital-risque européens.",
                "La jeune pousse {a} lève {m} millions d'euros en série B pour financer son usine de {city}.",
                "Ce tour de table de {m} millions d'euros, mené par des investisseurs historiques, valorise {a} à {p} millions."]),
        "en": (["{a} raises ${m} million", "{a} closes ${m} million Series B", "{a} secures ${m} million funding round",
                "Investors back {a} with ${m} million"],
               ["{a} has raised ${m} million in a Series B round led by European venture capital funds.",
                "The ${m} million funding round will pay for a new assembly line in {city}, {a} said.",
                "{a} closed a ${m} million round backed by existing investors, valuing the company at ${p} million."]),
    },
    "workforce": {
        "fr": (["{a} va recruter {n} personnes", "Plan social chez {a} : {n} postes supprimés",
                "{a} embauche {n} techniciens à {city}", "{a} supprime {n} emplois"],
               ["{a} prévoit de recruter {n} personnes d'ici la fin de l'année, surtout des techniciens cycle.",
                "{a} annonce la suppression de {n} postes dans le cadre d'un plan de sauvegarde de l'emploi.",
                "Pour suivre la demande, {a} va embaucher {n} salariés sur son site de {city}."]),
        "en": (["{a} to hire {n} staff", "{a} cuts {n} jobs", "{a} announces {n} layoffs in {city}",
                "{a} recruits {n} engineers"],
               ["{a} plans to hire {n} people by the end of the year, mostly bike technicians and engineers.",
                "{a} is cutting {n} jobs as sales slow, the company told employees on Monday.",
                "The layoffs affect {n} workers at the {city} plant, according to a union representative."]),
    },
    "launch": {
        "fr": (["{a} lance le {prod}", "{a} dévoile son nouveau vélo cargo {prod}", "Nouveau modèle chez {a} : le {prod}",
                "{a} présente sa nouvelle gamme urbaine"],
               ["{a} lance le {prod}, un vélo cargo électrique vendu {p} €, disponible dès le mois prochain.",
                "Avec le {prod}, {a} dévoile un nouveau modèle doté d'une batterie de 750 Wh et d'une autonomie de {n} km.",
                "{a} commercialise le {prod} à {p} €, une nouvelle offre pensée pour les familles urbaines."]),
        "en": (["{a} launches the {prod}", "{a} unveils {prod} cargo e-bike", "{a} rolls out new {prod}",
                "New model from {a}: the {prod}"],
               ["{a} has launched the {prod}, an electric cargo bike priced at €{p} that goes on sale next month.",
                "The {prod}, unveiled by {a} on Tuesday, comes with a 750 Wh battery and a range of {n} km.",
                "{a} is rolling out the {prod} at €{p}, a new model aimed at urban families."]),
    },
    "partnership": {
        "fr": (["{a} s'associe à {o}", "Partenariat entre {a} et {o}", "{a} signe un accord avec {o}",
                "{a} décroche un contrat avec {o}"],
               ["{a} et {o} signent un partenariat pour équiper {n} livreurs de vélos cargo électriques.",
                "{a} a remporté un contrat de {m} millions d'euros avec {o} pour sa flotte de {city}.",
                "L'accord entre {a} et {o} prévoit la fourniture de {n} batteries par an pendant trois ans."]),
        "en": (["{a} partners with {o}", "{a} and {o} team up on cargo bikes", "{a} signs supply deal with {o}",
                "{a} wins ${m} million contract from {o}"],
               ["{a} and {o} have signed a partnership to put {n} electric cargo bikes on delivery routes.",
                "{a} won a ${m} million contract from {o} to supply its fleet in {city}.",
                "The supply agreement between {a} and {o} covers {n} battery packs a year for three years."]),
    },
    "expansion": {
        "fr": (["{a} s'implante {country}", "{a} ouvre une usine à {city}", "{a} inaugure un nouveau magasin à {city}",
                "{a} ferme son site de {city}"],
               ["{a} poursuit son expansion et s'implante {country}, où elle ouvrira {n} points de vente.",
                "{a} inaugure une nouvelle usine à {city}, un investissement de {m} millions d'euros.",
                "{a} annonce la fermeture de son site de {city}, qui employait {n} personnes."]),
        "en": (["{a} expands into {country}", "{a} opens new plant in {city}", "{a} opens flagship store in {city}",
                "{a} to close {city} factory"],
               ["{a} is expanding into {country}, where it plans to open {n} stores.",
                "{a} opened a new plant in {city}, a ${m} million investment.",
                "{a} will shut down its {city} factory, which employs {n} people."]),
    },
    "results": {
        "fr": (["{a} : chiffre d'affaires en hausse de {pct} %", "Résultats annuels : {a} renoue avec les bénéfices",
                "{a} publie des ventes en baisse de {pct} %", "{a} relève ses prévisions"],
               ["{a} a publié un chiffre d'affaires de {m} millions d'euros, en hausse de {pct} % sur un an.",
                "Au {q} trimestre, les ventes de {a} ont reculé de {pct} %, à {m} millions d'euros.",
                "{a} affiche une marge opérationnelle en progression et relève son objectif annuel."]),
        "en": (["{a} revenue up {pct}%", "{a} swings to profit in full-year results", "{a} sales fall {pct}%",
                "{a} raises guidance"],
               ["{a} reported revenue of ${m} million, up {pct}% from a year earlier.",
                "Sales at {a} fell {pct}% in the {q} quarter to ${m} million, the company said.",
                "{a} posted a higher operating margin and raised its full-year guidance."]),
    },
    "legal": {
        "fr": (["{a} rappelle {n} vélos", "{a} condamné à une amende de {m} millions", "{o} assigne {a} en justice",
                "Enquête de la DGCCRF sur les batteries de {a}"],
               ["{a} rappelle {n} vélos {prod} en raison d'un risque de rupture du cadre.",
                "Le tribunal de commerce de {city} a condamné {a} à verser {m} millions d'euros à {o}.",
                "{o} a porté plainte contre {a} pour contrefaçon de son système de batterie."]),
        "en": (["{a} recalls {n} e-bikes", "{a} fined ${m} million", "{o} sues {a} over battery patent",
                "Regulator opens probe into {a}"],
               ["{a} is recalling {n} {prod} e-bikes over a risk of frame failure.",
                "A court in {city} ordered {a} to pay ${m} million to {o} in a patent dispute.",
                "{o} has filed a lawsuit against {a} alleging infringement of its battery patent."]),
    },
    "leadership": {
        "fr": (["{who} prend la tête de {a}", "{a} nomme {who} directrice générale", "Démission du PDG de {a}"],
               ["{a} a nommé {who} au poste de directeur général, en remplacement du fondateur.",
                "{who}, ancienne de {o}, prend les rênes de {a} avec pour mission de relancer les ventes.",
                "Le PDG de {a} quitte ses fonctions après {n} mois à la tête du groupe."]),
        "en": (["{a} names {who} CEO", "{who} to lead {a}", "{a} chief executive steps down"],
               ["{a} has appointed {who} as chief executive, succeeding the company's founder.",
                "{who}, a former {o} executive, will take the helm of {a} next month.",
                "The chief executive of {a} is stepping down after {n} months in the job."]),
    },
    "campaign": {
        "fr": (["{a} lance une campagne publicitaire nationale", "Nouvelle campagne de communication pour {a}"],
               ["{a} lance une campagne publicitaire de {m} millions d'euros à la télévision et dans le métro.",
                "La nouvelle campagne de {a} met en scène des familles qui ont abandonné la voiture."]),
        "en": (["{a} launches ad campaign", "New marketing campaign from {a}"],
               ["{a} is launching a ${m} million advertising campaign on TV and in public transport.",
                "The new campaign from {a} features families who gave up their second car."]),
    },
}
MOVE_WEIGHTS = {"acquisition": 8, "pricing": 12, "funding": 10, "workforce": 8, "launch": 16, "partnership": 10,
                "expansion": 9, "results": 11, "legal": 6, "leadership": 4, "campaign": 4}

# Trends: no acting company; an institution or the market is the subject. Slots: {inst}, {pct}, {n}, {m}, {city},
# {q}, {p}.
TRENDS = {
    "market": {
        "fr": (["Le marché du VAE recule de {pct} % au {q} trimestre", "Ventes de vélos électriques : {n} 000 unités en un an",
                "Le prix moyen d'un VAE atteint {p} €", "Les stocks des distributeurs pèsent sur le marché"],
               ["Selon {inst}, les ventes de vélos à assistance électrique ont reculé de {pct} % au {q} trimestre.",
                "{n} 000 vélos électriques ont été vendus en France l'an dernier, d'après {inst}.",
                "Le prix moyen d'un vélo à assistance électrique atteint désormais {p} €, en hausse de {pct} % sur un an."]),
        "en": (["E-bike sales fall {pct}% in {q} quarter", "E-bike sales top {n},000 units in a year",
                "Average e-bike price climbs to €{p}", "Dealer inventories weigh on e-bike market"],
               ["E-bike sales fell {pct}% in the {q} quarter, according to figures released by {inst}.",
                "E-bike sales topped {n},000 units last year, {inst} said.",
                "The average e-bike now sells for €{p}, up {pct}% on the year, as premium cargo models gain share."]),
    },
    "regulation": {
        "fr": (["La prime à l'achat d'un VAE réduite de {pct} %", "Nouvelle norme européenne pour les vélos cargo",
                "Le forfait mobilités durables relevé à {p} €", "Décret : les batteries de VAE devront être recyclées"],
               ["Le gouvernement réduit de {pct} % le bonus vélo à partir du 1er janvier, annonce {inst}.",
                "Une nouvelle norme européenne encadre la charge maximale des vélos cargo, selon {inst}.",
                "Le plafond du forfait mobilités durables passe à {p} € par an et par salarié."]),
        "en": (["EU tightens rules on e-bike batteries", "Cargo bike subsidy cut by {pct}%",
                "New EU standard for cargo bikes", "Government extends e-bike purchase grant"],
               ["{inst} is tightening the rules on e-bike battery collection and recycling.",
                "The purchase subsidy for cargo bikes will be cut by {pct}% from January, {inst} said.",
                "A new European standard sets a maximum load for electric cargo bikes, {inst} announced."]),
    },
    "consumer": {
        "fr": (["Les Français de plus en plus nombreux à pédaler pour aller au travail",
                "Enquête : {pct} % des cyclistes veulent une batterie réparable", "Vélotaf : les usagers attendent plus de parkings"],
               ["D'après une enquête de {inst}, {pct} % des salariés urbains se rendent au travail à vélo.",
                "{pct} % des acheteurs de VAE placent la réparabilité de la batterie avant le prix, selon {inst}.",
                "Les usagers du vélotaf réclament davantage de stationnements sécurisés à {city}."]),
        "en": (["Survey: {pct}% of commuters would switch to e-bikes", "Riders want repairable batteries, poll finds",
                "Bike commuting keeps growing in European cities"],
               ["A survey by {inst} found that {pct}% of urban commuters would consider switching to an e-bike.",
                "{pct}% of e-bike buyers rank battery repairability above price, according to {inst}.",
                "Bike commuting grew again in {city}, where secure parking remains the main request."]),
    },
    "technology": {
        "fr": (["Batteries LFP : vers des VAE moins chers", "Un nouveau moteur central promet {pct} % d'autonomie en plus",
                "Les batteries sodium-ion arrivent sur les vélos"],
               ["Les batteries LFP, moins chères et plus durables, gagnent du terrain chez les fabricants, note {inst}.",
                "Un nouveau moteur central promet {pct} % d'autonomie supplémentaire pour les vélos cargo.",
                "Les premières batteries sodium-ion pour vélos électriques seront produites à {city}."]),
        "en": (["LFP batteries set to cut e-bike costs", "New mid-drive motor promises {pct}% more range",
                "Sodium-ion batteries come to e-bikes"],
               ["LFP battery cells are gaining ground among e-bike makers as prices fall, {inst} noted.",
                "A new mid-drive motor promises {pct}% more range for cargo bikes.",
                "The first sodium-ion e-bike batteries will be made in {city} next year."]),
    },
    "urban": {
        "fr": (["{city} ouvre {n} km de pistes cyclables", "Logistique urbaine : le vélo cargo s'impose au dernier kilomètre",
                "Les livraisons à vélo cargo progressent de {pct} %"],
               ["La ville de {city} a inauguré {n} kilomètres de nouvelles pistes cyclables cette année.",
                "Les livraisons du dernier kilomètre à vélo cargo ont progressé de {pct} % en un an, selon {inst}.",
                "Les opérateurs de logistique urbaine remplacent leurs utilitaires par des vélos cargo à {city}."]),
        "en": (["{city} adds {n} km of bike lanes", "Cargo bikes take over last-mile delivery",
                "Cargo bike deliveries up {pct}%"],
               ["{city} opened {n} kilometres of new bike lanes this year.",
                "Last-mile deliveries by cargo bike rose {pct}% in a year, according to {inst}.",
                "Urban logistics operators in {city} are replacing vans with electric cargo bikes."]),
    },
    "csr": {
        "fr": (["Recyclage des batteries de VAE : un taux de collecte de {pct} %", "Le vélo made in France progresse"],
               ["Le taux de collecte des batteries de vélos électriques atteint {pct} %, indique {inst}.",
                "La part des VAE assemblés en France atteint {pct} %, portée par la relocalisation de l'assemblage."]),
        "en": (["E-bike battery collection rate reaches {pct}%", "Reshoring gains pace in European bike assembly"],
               ["The collection rate of e-bike batteries has reached {pct}%, {inst} said.",
                "The share of e-bikes assembled in Europe reached {pct}%, as makers bring assembly back home."]),
    },
}
TREND_WEIGHTS = {"market": 10, "regulation": 6, "consumer": 6, "technology": 5, "urban": 5, "csr": 3}

# Sentences that follow the lead: context (may name a company) and background, to reach about 60 words.
CONTEXT = {
    "fr": ["Le groupe, fondé à {city} il y a dix ans, emploie aujourd'hui {n} personnes.",
           "Cette annonce intervient dans un marché du vélo électrique en pleine consolidation.",
           "Les distributeurs, confrontés à des stocks élevés, observent la décision avec attention.",
           "{o}, son principal concurrent, n'a pas souhaité commenter.",
           "La direction vise un chiffre d'affaires de {m} millions d'euros d'ici 2027.",
           "Les analystes y voient une réponse à la concurrence des marques asiatiques.",
           "L'entreprise mise sur les vélos cargo, le segment le plus dynamique du marché.",
           "Les collectivités restent les premiers clients des flottes professionnelles.",
           "Le secteur sort de deux années difficiles après l'envolée de la période sanitaire.",
           "Selon nos informations, d'autres annonces sont attendues d'ici la rentrée.",
           "{o} avait annoncé une opération comparable au printemps.",
           "Le dirigeant, {who}, évoque une étape décisive pour la marque.",
           "L'entreprise ne publie pas ses marges mais revendique {n} revendeurs en Europe.",
           "Cette décision pourrait peser sur les prix pratiqués en magasin d'ici l'été.",
           "Les syndicats demandent des garanties sur l'emploi à {city}.",
           "La marque réalise désormais {pct} % de ses ventes hors de France.",
           "Un porte-parole confirme l'information sans donner davantage de détails.",
           "Les concurrents européens devraient suivre le mouvement dans les prochains mois.",
           "La société avait déjà été approchée par plusieurs fonds l'an dernier."],
    "en": ["The company, founded in {city} ten years ago, now employs {n} people.",
           "The announcement comes as the e-bike market goes through a wave of consolidation.",
           "Retailers, still sitting on high inventory, are watching the move closely.",
           "{o}, its main rival, declined to comment.",
           "Management is targeting revenue of ${m} million by 2027.",
           "Analysts see it as a response to growing competition from Asian brands.",
           "The company is betting on cargo bikes, the fastest-growing segment of the market.",
           "Cities remain the largest buyers of professional bike fleets.",
           "The sector is coming out of two difficult years after the pandemic boom.",
           "More announcements are expected before the autumn, people familiar with the matter said.",
           "{o} announced a similar move in the spring.",
           "Chief executive {who} called it a turning point for the brand.",
           "The company does not disclose margins but says it works with {n} dealers across Europe.",
           "The decision could push up shelf prices by the summer, dealers warn.",
           "Unions are seeking job guarantees at the {city} site.",
           "The brand now makes {pct}% of its sales outside its home market.",
           "A spokesperson confirmed the news but gave no further details.",
           "European rivals are expected to follow in the coming months.",
           "Several funds had approached the company last year."],
}
BACKGROUND = {
    "fr": ["Le marché français du VAE a dépassé {n} 000 unités l'an dernier, selon {inst}.",
           "Les prix des composants, notamment des cellules de batterie, ont baissé de {pct} % en un an.",
           "Les primes à l'achat versées par les collectivités soutiennent la demande des ménages.",
           "Les ventes en ligne représentent désormais près d'un tiers des achats de vélos électriques.",
           "Les fabricants européens relocalisent une partie de l'assemblage pour réduire les délais.",
           "Le vélo cargo séduit les familles comme les artisans et les livreurs en centre-ville.",
           "Les consommateurs attendent des garanties plus longues et des batteries réparables.",
           "Le forfait mobilités durables encourage les entreprises à financer le vélotaf de leurs salariés.",
           "À {city}, la part modale du vélo a progressé de {pct} % en cinq ans.",
           "Les délais de livraison des composants sont revenus à la normale depuis l'automne.",
           "Les loueurs longue durée proposent désormais des VAE dès {n} euros par mois.",
           "Le vol reste le premier frein à l'achat cité par les ménages interrogés.",
           "Les réparateurs indépendants peinent à recruter des mécaniciens qualifiés.",
           "Les ventes de vélos d'occasion reconditionnés progressent de {pct} % par an.",
           "Les assureurs lancent des contrats dédiés aux vélos cargo familiaux.",
           "Le coût de l'aluminium et de l'acier pèse toujours sur les cadres.",
           "Les grandes surfaces de sport gagnent des parts de marché sur l'entrée de gamme.",
           "Plusieurs villes moyennes annoncent des plans vélo ambitieux pour la décennie.",
           "La réglementation sur le bridage à 25 km/h fait toujours débat chez les usagers.",
           "Les ventes de vélos à assistance électrique restent portées par les zones périurbaines."],
    "en": ["The e-bike market topped {n},000 units last year, according to {inst}.",
           "Component prices, battery cells in particular, fell {pct}% over the past year.",
           "Purchase subsidies from cities and regions continue to support household demand.",
           "Online sales now account for almost a third of e-bike purchases.",
           "European makers are reshoring part of their assembly to cut lead times.",
           "Cargo bikes are winning over families, tradespeople and city-centre couriers alike.",
           "Consumers expect longer warranties and batteries that can be repaired.",
           "Employers increasingly fund bike commuting through mobility allowances.",
           "In {city}, cycling's share of trips has grown {pct}% in five years.",
           "Component lead times have returned to normal since the autumn.",
           "Leasing firms now offer e-bikes from {n} euros a month.",
           "Theft remains the main barrier to purchase cited by households.",
           "Independent repair shops are struggling to hire qualified mechanics.",
           "Sales of refurbished second-hand bikes are growing {pct}% a year.",
           "Insurers are launching policies tailored to family cargo bikes.",
           "Aluminium and steel costs still weigh on frame prices.",
           "Big-box sports retailers are gaining share at the entry level.",
           "Several mid-sized cities have announced ambitious cycling plans for the decade.",
           "The 25 km/h assistance limit remains a topic of debate among riders.",
           "Suburban areas continue to drive e-bike demand."],
}
QUARTERS = {"fr": ["premier", "deuxième", "troisième", "quatrième"], "en": ["first", "second", "third", "fourth"]}
# Sources of the repo's sources.yaml by language, with how often each carries a press item.
PRESS = {"fr": ["cyclehebdo", "cyclehebdo", "cyclehebdo", "velotaf"], "en": ["bikeindustry", "euromobility"]}
NEWSROOMS = {"veloce": ("veloce-news", "fr"), "voltacycles": ("voltacycles-news", "en")}
TREND_SOURCES = {"fr": {"market": "observatoire", "regulation": "reglementation", "consumer": "velotaf",
                        "csr": "reglementation"}, "en": {"regulation": "euromobility"}}
DOMAINS = {"cyclehebdo": "cyclehebdo.example", "bikeindustry": "bikeindustry.example", "veloce-news": "veloce.example",
           "voltacycles-news": "voltacycles.example", "observatoire": "observatoire-cycle.example",
           "velotaf": "blog-velotaf.example", "euromobility": "euromobility.example",
           "reglementation": "reglementation-mobilite.example"}


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return "-".join(re.sub(r"[^a-z0-9]+", " ", ascii_text).split()[:8])


def _facts(rng: random.Random) -> dict:
    """The facts of one event, shared by every outlet that tells it (so that its reports can be grouped)."""
    if rng.random() < 0.45:
        competitor = rng.choice(list(COMPETITORS))
        actor = (competitor, None)
    else:
        competitor, actor = None, (None, rng.choice(OTHERS))
    others = [c for c in COMPETITORS if c != competitor]
    other = (rng.choice(others), None) if rng.random() < 0.3 else (None, rng.choice([o for o in OTHERS if o != actor[1]]))
    price = rng.randint(15, 79) * 100 - 10
    return {"actor": actor, "other": other, "m": rng.choice([2, 3, 4, 5, 6, 8, 12, 15, 18, 25, 30, 40, 45, 60, 120]),
            "pct": rng.randint(3, 35), "p": price, "p2": price - rng.randint(2, 9) * 100,
            "n": rng.randint(2, 90) * 10, "city": rng.randrange(len(CITIES_FR)), "country": rng.randrange(len(COUNTRIES_FR)),
            "prod": rng.choice(PRODUCTS), "who": rng.choice(PERSONS), "q": rng.randrange(4),
            "inst": rng.randrange(len(INSTITUTIONS_FR))}


def _name(ref: tuple[str | None, str | None], rng: random.Random) -> str:
    competitor, name = ref
    return rng.choice(COMPETITORS[competitor]) if competitor else name  # outlets spell competitors variously


def _render(kind: str, sub: str, facts: dict, lang: str, rng: random.Random) -> tuple[str, str]:
    """(title, summary) of one report of an event, in `lang`, worded by this outlet's own draws."""
    titles, leads = (MOVES[sub] if kind == "move" else TRENDS[sub])[lang]
    cities = CITIES_FR if lang == "fr" else CITIES_EN
    slots = {**facts, "a": _name(facts["actor"], rng), "o": _name(facts["other"], rng),
             "city": cities[facts["city"]], "country": (COUNTRIES_FR if lang == "fr" else COUNTRIES_EN)[facts["country"]],
             "q": QUARTERS[lang][facts["q"]],
             "inst": (INSTITUTIONS_FR if lang == "fr" else INSTITUTIONS_EN)[facts["inst"] % len(INSTITUTIONS_EN if lang == "en" else INSTITUTIONS_FR)]}
    pick = rng.randrange(len(titles))
    title = titles[pick].format(**slots)
    title = title[:1].upper() + title[1:]
    # The lead mostly follows the title's angle (templates are aligned by index); some outlets lead on another.
    lead = leads[pick % len(leads)] if rng.random() < 0.7 else rng.choice(leads)
    sentences = [lead.format(**slots)]
    target = rng.randint(50, 70)
    pool = (CONTEXT[lang] if kind == "move" else []) + BACKGROUND[lang]  # trends have no company to talk about
    rng.shuffle(pool)
    words = len(sentences[0].split())
    for sentence in pool:
        if words >= target:
            break
        extra = {"city": rng.choice(cities), "n": rng.randint(2, 90) * 10, "m": rng.choice([10, 20, 50, 80, 150]),
                 "pct": rng.randint(3, 30)}
        text = sentence.format(**{**slots, **extra})
        sentences.append(text)
        words += len(text.split())
    return title, " ".join(sentences)


def make_items(count: int, seed: int = 0, days: float = 30.0) -> list[dict]:
    """`count` items (dicts: source, lang, title, summary, url, guid, age_s), deterministic for (count, seed, days).

    About 60 % French. Events are told by one source (75 %), two (18 %) or three (7 %), reports a few hours apart,
    sometimes in the other language; publication times spread over `days` before the run.
    """
    rng = random.Random(f"veille-bench-nlp-{seed}")
    items: list[dict] = []
    event = 0
    while len(items) < count:
        event += 1
        is_move = rng.random() < 0.6
        kind = "move" if is_move else "trend"
        weights = MOVE_WEIGHTS if is_move else TREND_WEIGHTS
        sub = rng.choices(list(weights), weights=list(weights.values()))[0]
        facts = _facts(rng)
        if not is_move:
            facts["actor"] = facts["other"] = (None, "")
        tellers = rng.choices([1, 2, 3], weights=[75, 18, 7])[0]
        first_lang = "fr" if rng.random() < FR_SHARE else "en"
        age = rng.uniform(0, days * 86400)
        used: set[str] = set()
        for report in range(tellers):
            if len(items) >= count:
                break
            lang = first_lang if report == 0 or rng.random() < 0.7 else ("en" if first_lang == "fr" else "fr")
            competitor = facts["actor"][0]
            if report == 0 and competitor in NEWSROOMS and NEWSROOMS[competitor][1] == lang and rng.random() < 0.4:
                source = NEWSROOMS[competitor][0]
            elif report == 0 and not is_move and sub in TREND_SOURCES[lang] and rng.random() < 0.5:
                source = TREND_SOURCES[lang][sub]
            else:
                source = rng.choice([s for s in PRESS[lang] if s not in used] or PRESS["fr"] + PRESS["en"])
            used.add(source)
            declared = lang if rng.random() > 0.03 else ("en" if lang == "fr" else "fr")  # a mislabelled feed
            title, summary = _render(kind, sub, facts, lang, rng)
            index = len(items)
            url = f"https://www.{DOMAINS[source]}/{2025 - index % 2}/{_slug(title)}-{index}/"
            items.append({"source": source, "lang": declared, "title": title, "summary": summary, "url": url,
                          "guid": url, "age_s": max(60.0, age - report * rng.uniform(600, 30000)),
                          "event": event, "kind": sub})
    return items


# -- database and configuration ------------------------------------------------------------------------------------

def build_database(db: Path, config_path: Path, items: list[dict]) -> dict:
    """A fresh veille database holding `items`, stored through the real ingest path."""
    from watch.config import load_config
    from watch.models import Entry
    from watch.store import Store

    config = load_config(config_path)
    now = datetime.now(timezone.utc)
    by_source: dict[str, list] = {}
    for it in items:
        by_source.setdefault(it["source"], []).append(Entry(
            url=it["url"], title=it["title"], summary=it["summary"], guid=it["guid"], lang=it["lang"],
            published=now - timedelta(seconds=it["age_s"]), author="Rédaction" if it["lang"] == "fr" else "Staff"))
    counts = Counter()
    with Store.open(db) as store:
        store.sync_sources(config.sources)
        for source, entries in sorted(by_source.items()):
            for start in range(0, len(entries), 2000):  # a feed run stores a few thousand at most
                result = store.ingest(source, entries[start:start + 2000], "feed", fetched_at=now)
                counts["new"] += result.new
                counts["updated"] += result.updated
                counts["warnings"] += len(result.warnings)
        store.conn.execute("pragma wal_checkpoint(truncate)")  # the copies below are of one complete file
    return dict(counts)


def write_config(path: Path, database: str, models: bool) -> None:
    """The repo's sources.yaml with `database:` pointing at the step's db and, for (2), `nlp: {models: false}`."""
    text = (ROOT / "sources.yaml").read_text(encoding="utf-8")
    text, found = re.subn(r"(?m)^database:.*$", f"database: {database}", text, count=1)
    if not found:
        text = f"database: {database}\n" + text
    if not models:
        if re.search(r"(?m)^nlp:", text):
            raise RuntimeError("the repo's sources.yaml already has an nlp: section; cannot add models: false")
        text += "\n# Added by bench/nlp.py: blank pipelines plus rules.\nnlp:\n  models: false\n"
    path.write_text(text, encoding="utf-8")


def db_counts(db: Path) -> dict:
    with sqlite3.connect(db) as conn:
        one = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
        return {
            "items": one("select count(*) from items"),
            "classified": one("select count(*) from items where classified_at is not null"),
            "scored": one("select count(*) from items where score is not null"),
            "labelled": one("select count(distinct item_id) from item_labels"),
            "moves": one("select count(distinct item_id) from item_labels where axis = 'moves'"),
            "competitor": one("select count(distinct item_id) from item_entities where competitor is not null"),
            "multi_stories": one("select count(*) from (select story from items where story is not null "
                                 "group by story having count(*) > 1)"),
            "langs": dict(conn.execute("select lang, count(*) from items group by lang").fetchall()),
        }


def db_texts(db: Path) -> list[str]:
    """The texts the classifier reads, built as nlp.classify does: title, a newline, then summary and text."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("select title, summary, text from items order by id").fetchall()
    texts = []
    for title, summary, text in rows:
        body = " ".join(filter(None, (summary, text)))
        texts.append(f"{title}\n{body}".strip() if title else body)
    return texts


# -- measured children ---------------------------------------------------------------------------------------------

def child_baseline(db: str, batch_size: int) -> dict:
    """(3): bare spaCy over the same texts: the full fr_core_news_sm pipeline, one process, default settings."""
    texts = db_texts(Path(db))
    started = time.perf_counter()
    import spacy

    nlp = spacy.load("fr_core_news_sm")
    loaded = time.perf_counter()
    tokens = 0
    for doc in nlp.pipe(texts, batch_size=batch_size):
        tokens += len(doc)
    done = time.perf_counter()
    return {"seconds": done - loaded, "load_seconds": loaded - started, "items": len(texts), "tokens": tokens,
            "pipeline": nlp.pipe_names, "spacy": spacy.__version__, "batch_size": batch_size}


def child_phases(config_path: str) -> dict:
    """(p1)/(p2): `nlp.stage.classify` in-process, each function it calls wrapped in a timer."""
    import resource

    started = time.perf_counter()
    import nlp.classify as classify_mod
    import nlp.pipeline as pipeline_mod
    import nlp.stage as stage
    from watch.config import load_config
    from watch.store import Store

    imported = time.perf_counter()
    timers: Counter = Counter()
    calls: Counter = Counter()

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            begin = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                timers[name] += time.perf_counter() - begin
                calls[name] += 1
        return wrapper

    pipeline_mod.build_pipeline = timed("load: spaCy pipelines (+ rules)", pipeline_mod.build_pipeline)
    classify_mod.load_model = timed("load: textcat model", classify_mod.load_model)
    classify_mod.detect_language = timed("language detection", classify_mod.detect_language)
    classify_mod.predict = timed("textcat predict", classify_mod.predict)
    stage.extend_stories = timed("stories: extend_stories", stage.extend_stories)
    stage.score_item = timed("scoring: score_item", stage.score_item)
    rescore = timed("rescore (total)", stage.rescore)
    marks: dict[str, float] = {}

    def rescore_marked(*args, **kwargs):  # peak memory of the classification part, then of the whole
        marks["before_rescore_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6  # KiB on Linux
        return rescore(*args, **kwargs)

    stage.rescore = rescore_marked
    for method in ("ids_to_classify", "save_classification", "classified_since", "save_scores"):
        setattr(Store, method, timed(f"store: {method}", getattr(Store, method)))
    config = load_config(config_path)
    with Store.open(config.database) as store:
        begin = time.perf_counter()
        report = stage.classify(config, store)
        total = time.perf_counter() - begin
    return {"imports": imported - started, "total": total, "timers": dict(timers), "calls": dict(calls), **marks,
            "classified": report.classified, "scored": report.scored, "stories": report.stories}


def child_profile(config_path: str, top: int) -> str:
    """cProfile of `nlp.stage.classify` in-process: the `top` functions by cumulative and by own time."""
    import cProfile
    import io
    import pstats

    import nlp.stage as stage
    from watch.config import load_config
    from watch.store import Store

    config = load_config(config_path)
    profiler = cProfile.Profile()
    with Store.open(config.database) as store:
        profiler.enable()
        stage.classify(config, store)
        profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


# -- driver --------------------------------------------------------------------------------------------------------

def code_state() -> tuple[str, str]:
    """(git description, fingerprint of the code and data the stage runs): other people may edit them mid-run."""
    import hashlib

    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip() or "?"
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "nlp", "watch"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        head, dirty = "?", ""
    digest = hashlib.sha1()
    for folder in ("nlp", "watch"):
        for file in sorted((ROOT / folder).rglob("*")):
            if file.is_file() and "__pycache__" not in file.parts:
                digest.update(str(file.relative_to(ROOT)).encode())
                digest.update(file.read_bytes())
    return f"{head}{' + uncommitted changes in nlp/ or watch/' if dirty else ''}", digest.hexdigest()[:12]


class Step:
    def __init__(self, key: str, label: str):
        self.key, self.label = key, label
        self.wall: float | None = None  # what the rate is computed on
        self.peak_mb: float | None = None
        self.items: int | None = None
        self.note = ""
        self.ok = True

    @property
    def rate(self) -> float | None:
        return self.items / self.wall if self.wall and self.items else None


def last_json(out: str) -> dict | None:
    try:
        return json.loads(out.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        return None


def print_table(headers: list[str], rows: list[list], right: set[int]) -> None:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells):
        return "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


def fmt(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/nlp.py", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Items per second and peak memory of `veille classify` over N generated items (French and "
                    "English business news), with the models and with blank pipelines plus rules, against bare "
                    "`nlp.pipe` of fr_core_news_sm over the same texts. Prints figures; exits 0 unless the run broke.",
        epilog="Steps: (1) veille classify, models; (2) veille classify, nlp: {models: false}; (3) bare nlp.pipe of "
               "fr_core_news_sm (loop only); (p1)/(p2) the stage in-process with its phases timed (information).\n"
               f"Targets: (1) >= {TARGET_RATIO_VS_BARE} x (3) items/s and >= {TARGET_MODELS_RATE:.0f} items/s; "
               f"(2) >= {TARGET_BLANK_RATE:.0f} items/s; peak of (1) and (2) < {TARGET_PEAK_MB:.0f} MB.")
    parser.add_argument("--items", type=int, default=20000, metavar="N", help="items to generate (default 20000)")
    parser.add_argument("--days", type=float, default=30.0, metavar="D",
                        help="publication times spread over the D days before the run (default 30, the stage's "
                             "story horizon)")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    parser.add_argument("--batch-size", type=int, default=64, metavar="B",
                        help="batch size of the bare nlp.pipe baseline (default 64, as veille's classifier)")
    parser.add_argument("--no-phases", action="store_true", help="skip the in-process phase timings (p1), (p2)")
    parser.add_argument("--steps", default="1,2,3,4", metavar="LIST",
                        help="which of the measured steps 1, 2, 3, 4 to run (default 1,2,3,4; e.g. --steps 1,3; "
                             "4 needs 2)")
    parser.add_argument("--profile", type=int, default=0, metavar="TOP",
                        help="also cProfile the stage in-process with the models and print the TOP functions")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (configs, dbs, logs)")
    parser.add_argument("--new", type=int, default=1000, metavar="K",
                        help="(4): group the K newest items against the others (default 1000)")
    parser.add_argument("--child", choices=["baseline", "phases", "profile", "grouping"], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:  # a measured step, started by the driver below
        # The stage may start helper processes (forkserver), which re-import the main module by its path; this
        # file is named nlp.py and would shadow the `nlp` package there. They need nothing from it.
        sys.modules["__main__"].__dict__.pop("__file__", None)
        if args.child == "baseline":
            print(json.dumps(child_baseline(args.db, args.batch_size)))
        elif args.child == "phases":
            print(json.dumps(child_phases(args.config)))
        elif args.child == "grouping":
            print(json.dumps(child_grouping(args.config, args.new)))
        else:
            print(child_profile(args.config, args.profile))
        return 0

    if args.items < 1 or args.days <= 0 or args.batch_size < 1:
        parser.error("--items, --days and --batch-size must be positive")
    chosen = {step.strip() for step in args.steps.split(",") if step.strip()}
    if not chosen or not chosen <= {"1", "2", "3", "4"}:
        parser.error("--steps takes a comma-separated list of 1, 2, 3 and 4")
    if "4" in chosen and "2" not in chosen:
        parser.error("step 4 groups the items that step 2 classified: --steps 2,4")
    if not 0 < args.new < args.items:
        parser.error("--new must be between 1 and --items - 1")
    try:
        import spacy
        from watch.config import load_config  # noqa: F401
    except ImportError as exc:
        print(f"cannot import the project ({exc}): run with its interpreter, e.g. .venv/bin/python bench/nlp.py",
              file=sys.stderr)
        return 1
    import importlib.util

    work = Path(tempfile.mkdtemp(prefix="veille-bench-nlp-"))
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("veille_config", "veille_db")}
    env["VEILLE_LANG"] = "en"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    broke: list[str] = []
    fingerprint = ""
    steps = {key: Step(key, label) for key, label in [
        ("1", "(1) veille classify, models"),
        ("2", "(2) veille classify, blank + rules"),
        ("3", "(3) bare nlp.pipe, fr_core_news_sm"),
        ("4", "(4) story grouping, newest items vs window"),
    ]}
    phases: dict[str, dict] = {}
    cpu: dict[str, dict] = {}  # CPU seconds and memory of all the processes of steps (1) and (2)
    me = [sys.executable, str(Path(__file__).resolve())]
    budget = 600 + args.items * 0.1

    def child_result(step: Step, out: str, rc: int, err: str) -> dict | None:
        """The JSON a measuring child printed last, or None with the step marked broken."""
        result = last_json(out)
        if result is None:
            broke.append(f"{step.label.split(' ')[0]} exited {rc}: {err.strip()[-800:]}")
            step.ok = False
        return result

    def progress(text: str) -> None:
        print(f"  .. {text}", file=sys.stderr, flush=True)

    try:
        progress(f"generating {args.items} items and storing them through Store.ingest")
        started = time.perf_counter()
        items = make_items(args.items, args.seed, args.days)
        generated = time.perf_counter() - started
        master = work / "master.db"
        write_config(work / "master.yaml", "master.db", models=True)
        ingest = build_database(master, work / "master.yaml", items)
        stored = time.perf_counter() - started - generated
        before = db_counts(master)
        if before["items"] != args.items:
            broke.append(f"{before['items']} items stored for {args.items} generated ({ingest})")
        words = sum(len(it["summary"].split()) for it in items) / len(items)
        fr = sum(it["lang"] == "fr" for it in items) / len(items)
        events = len({it["event"] for it in items})
        told = Counter(Counter(it["event"] for it in items).values())
        sources = Counter(it["source"] for it in items)
        cpus = os.cpu_count()
        usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpus
        en_model = importlib.util.find_spec("en_core_web_sm") is not None
        model_dirs = [p for p in (ROOT / "nlp" / "model", work / "model") if (p / "config.cfg").exists()]

        version, fingerprint = code_state()
        print(f"code     : commit {version}; nlp/ + watch/ fingerprint {fingerprint}")
        print(f"machine  : {platform.machine()}, {usable} usable CPU(s) of {cpus}, {platform.system()} "
              f"{platform.release()}; Python {platform.python_version()}; spaCy {spacy.__version__}")
        print(f"models   : fr_core_news_sm {'installed' if importlib.util.find_spec('fr_core_news_sm') else 'MISSING'}; "
              f"en_core_web_sm {'installed' if en_model else 'not installed (English runs blank + lookups)'}; "
              f"textcat model {'nlp/model' if model_dirs else 'none (rules only)'}")
        print(f"items    : {args.items} ({fr:.0%} declared French), title + {words:.0f}-word summary on average, "
              f"{events} events told by 1/2/3 sources: {told.get(1, 0)}/{told.get(2, 0)}/{told.get(3, 0)}, "
              f"published over {args.days:g} days; seed {args.seed}")
        print(f"sources  : {', '.join(f'{s} {n}' for s, n in sorted(sources.items(), key=lambda kv: -kv[1]))}")
        print(f"stored   : {before['items']} items via Store.ingest in {stored:.1f} s (generated in {generated:.1f} s)")
        print(f"work dir : {work}" + ("" if args.keep else " (removed at the end; --keep keeps it)"))
        print(flush=True)

        for key, models in (("1", True), ("2", False)):
            if key not in chosen:
                continue
            step = steps[key]
            name = "models" if models else "blank"
            shutil.copy(master, work / f"{name}.db")
            write_config(work / f"{name}.yaml", f"{name}.db", models=models)
            progress(step.label)
            cpu[key] = {}
            step.wall, rc, step.peak_mb, out, err = run_measured(
                veille_command() + ["--config", str(work / f"{name}.yaml"), "classify"], env, work, name, budget,
                cpu=cpu[key])
            after = db_counts(work / f"{name}.db")
            step.items = after["classified"]
            step.ok = rc == 0 and after["classified"] == args.items and after["scored"] == args.items
            if rc != 0:
                broke.append(f"{step.label} exited {rc}: {err.strip()[-800:]}")
            elif not step.ok:
                broke.append(f"{step.label}: {after['classified']} classified, {after['scored']} scored of {args.items}")
            step.note = (f"{out.strip().splitlines()[-1] if out.strip() else 'no output'}; in the db: "
                         f"{after['labelled']} with a label, {after['moves']} with a move, {after['competitor']} "
                         f"naming a competitor, {after['multi_stories']} multi-item stories, langs {after['langs']}")
            if cpu[key].get("all"):
                step.note += (f"; CPU {cpu[key]['all']:.1f} s in all its processes ({cpu[key]['main']:.1f} s in the "
                              f"main one): cores busy {cpu[key]['all'] / step.wall / usable:.0%} of its wall time; "
                              f"memory of all its processes at most {cpu[key].get('pss_peak_mb', 0):.0f} MB (PSS)")

        step = steps["3"]
        result = None
        if "3" in chosen:
            progress(step.label)
            wall, rc, step.peak_mb, out, err = run_measured(
                me + ["--child", "baseline", "--db", str(master), "--batch-size", str(args.batch_size)], env, work,
                "baseline", budget)
            result = child_result(step, out, rc, err)
        if result is not None:
            step.wall, step.items = result["seconds"], result["items"]
            step.note = (f"pipe loop only; spacy.load took {result['load_seconds']:.2f} s, the process {wall:.2f} s; "
                         f"pipeline {'+'.join(result['pipeline'])}, batch_size {result['batch_size']}, "
                         f"{result['tokens'] / result['items']:.0f} tokens per item, one process")

        step = steps["4"]
        if "4" in chosen and steps["2"].ok:
            progress(step.label)
            shutil.copy(work / "blank.db", work / "grouping.db")
            write_config(work / "grouping.yaml", "grouping.db", models=False)
            wall, rc, step.peak_mb, out, err = run_measured(
                me + ["--child", "grouping", "--config", str(work / "grouping.yaml"), "--new", str(args.new)], env,
                work, "grouping", budget)
            result = child_result(step, out, rc, err)
            if result is not None:
                step.wall, step.items = result["seconds"], result["new"]
                step.note = (f"extend_stories only: {result['new']} new items against a window of {result['window']} "
                             f"(read in {result['read']:.2f} s), {result['joined']} joined a story; the whole "
                             f"incremental pass (nlp.stage.rescore: read, group, score, write) "
                             f"{result['pass_seconds']:.2f} s, {result['pass_scored']} items rescored")

        if not args.no_phases:
            for key, models in (("p1", True), ("p2", False)):
                name = f"phases-{'models' if models else 'blank'}"
                shutil.copy(master, work / f"{name}.db")
                write_config(work / f"{name}.yaml", f"{name}.db", models=models)
                progress(f"({key}) nlp.stage.classify in-process, phases timed")
                wall, rc, peak, out, err = run_measured(
                    me + ["--child", "phases", "--config", str(work / f"{name}.yaml")], env, work, name, budget)
                result = last_json(out)
                if result is None:
                    broke.append(f"({key}) exited {rc}: {err.strip()[-800:]}")
                else:
                    phases[key] = {**result, "wall": wall, "peak": peak}

        if args.profile:
            shutil.copy(master, work / "profile.db")
            write_config(work / "profile.yaml", "profile.db", models=True)
            progress("cProfile of nlp.stage.classify, models")
            wall, rc, _, out, err = run_measured(
                me + ["--child", "profile", "--config", str(work / "profile.yaml"), "--profile", str(args.profile)],
                env, work, "profile", budget * 3)
            if rc != 0:
                broke.append(f"profile exited {rc}: {err.strip()[-800:]}")
            profile_text = out
        else:
            profile_text = ""
    except (RuntimeError, OSError, sqlite3.Error) as exc:
        broke.append(f"{exc.__class__.__name__}: {exc}")
        profile_text = ""

    if all(s.wall is None for s in steps.values()):
        print("\n".join(f"BROKEN: {b}" for b in broke), file=sys.stderr)
        return 1

    print(f"Steps (wall: (1) and (2) the whole command, start-up and model loading included; (3) the pipe loop only; "
          f"peak: max RSS of the step's process)")
    print_table(["step", "wall s", "items", "items/s", "peak MB", "checks"],
                [[s.label, fmt(s.wall, ".2f"), "-" if s.items is None else s.items, fmt(s.rate), fmt(s.peak_mb, ".0f"),
                  "-" if s.wall is None else ("ok" if s.ok else "FAIL")] for s in steps.values()], right={1, 2, 3, 4})
    print()
    for s in steps.values():
        if s.note:
            print(f"  {s.label.split(' ')[0]:<4} {s.note}")
    print()

    if phases:
        names = ["start-up + imports", "load: spaCy pipelines (+ rules)", "load: textcat model", "store: ids_to_classify",
                 "language detection", "textcat predict", "spaCy pipe + rules + fill (rest of analyse)",
                 "store: save_classification", "store: classified_since", "stories: extend_stories",
                 "scoring: score_item", "store: save_scores", "rescore: the rest", "total (stage.classify + imports)"]
        rows = []
        columns = {}
        for key, result in phases.items():
            t = Counter(result["timers"])
            rest_rescore = t["rescore (total)"] - t["stories: extend_stories"] - t["scoring: score_item"] \
                - t["store: classified_since"] - t["store: save_scores"]
            analyse = result["total"] - t["rescore (total)"] - t["load: spaCy pipelines (+ rules)"] \
                - t["load: textcat model"] - t["store: ids_to_classify"] - t["language detection"] \
                - t["textcat predict"] - t["store: save_classification"]
            columns[key] = {**t, "start-up + imports": result["imports"], "spaCy pipe + rules + fill (rest of analyse)": analyse,
                            "rescore: the rest": rest_rescore, "total (stage.classify + imports)": result["total"] + result["imports"]}
        total = {k: columns[k]["total (stage.classify + imports)"] for k in columns}
        for name in names:
            row = [name]
            for key in phases:
                value = columns[key].get(name, 0.0)
                row += [f"{value:.2f}", f"{value / total[key]:.0%}" if total[key] else "-"]
            rows.append(row)
        headers = ["phase (info)"]
        for key in phases:
            headers += [f"({key}) s", "share"]
        print("Phases of nlp.stage.classify, in-process, each function it calls timed (information; "
              "(p1) = config of (1), (p2) = config of (2))")
        print_table(headers, rows, right=set(range(1, len(headers))))
        for key, result in phases.items():
            before = result.get("before_rescore_mb")
            print(f"  ({key}) process wall {result['wall']:.2f} s (interpreter start-up included), peak {result['peak']:.0f} MB"
                  + (f" ({before:.0f} MB before rescore)" if before else "") + "; "
                  f"{result['classified']} classified, {result['scored']} scored, {result['stories']} multi-source stories")
        print()

    one, two, three = steps["1"], steps["2"], steps["3"]
    targets = []

    def target(name: str, measured: str, goal: str, passed: bool | None) -> None:
        targets.append([name, measured, goal, "n/a" if passed is None else ("PASS" if passed else "FAIL")])

    both = one.rate is not None and three.rate is not None
    target("(1) / (3): share of bare nlp.pipe throughput", f"{one.rate / three.rate:.2f}" if both else "-",
           f">= {TARGET_RATIO_VS_BARE}", (one.rate / three.rate >= TARGET_RATIO_VS_BARE and one.ok) if both else None)
    target("(1): items/s with fr_core_news_sm", fmt(one.rate), f">= {TARGET_MODELS_RATE:.0f}",
           (one.rate >= TARGET_MODELS_RATE and one.ok) if one.rate else None)
    target("(2): items/s, blank pipelines + rules", fmt(two.rate), f">= {TARGET_BLANK_RATE:.0f}",
           (two.rate >= TARGET_BLANK_RATE and two.ok) if two.rate else None)
    for key, step in (("1", one), ("2", two)):
        # The larger of the main process's peak RSS and the peak of all its processes' PSS (helpers included).
        peak = max(step.peak_mb or 0.0, cpu.get(key, {}).get("pss_peak_mb", 0.0)) or None
        target(f"{step.label.split(' ')[0]}: peak memory, all processes", f"{peak:.0f} MB" if peak else "-",
               f"< {TARGET_PEAK_MB:.0f} MB", peak < TARGET_PEAK_MB if peak else None)
    four = steps["4"]
    target(f"(4): grouping {args.new} new items against the window", fmt(four.wall, ".2f") + " s" if four.wall else "-",
           f"< {TARGET_GROUPING_S:.0f} s", (four.wall < TARGET_GROUPING_S and four.ok) if four.wall else None)
    print("Targets")
    print_table(["target", "measured", "goal", "result"], targets, right={1})
    if profile_text:
        print("\ncProfile of nlp.stage.classify (models), in-process:\n")
        print(profile_text)
    if fingerprint and code_state()[1] != fingerprint:
        print(f"\nWARNING: nlp/ or watch/ changed during the run (fingerprint {fingerprint} -> {code_state()[1]}): "
              "the steps may not have run the same code; run again on a quiet tree.")
    if broke:
        print("\n" + "\n".join(f"BROKEN: {b}" for b in broke), file=sys.stderr)
    if args.keep:
        print(f"\nkept: {work} (master.db, <step>.yaml/.db/.out/.err)")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if broke else 0


if __name__ == "__main__":
    sys.exit(main())
