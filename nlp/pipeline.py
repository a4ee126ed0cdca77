"""spaCy pipelines per language, with veille's own components registered as spaCy factories.

French runs on `fr_core_news_sm` (a dependency) without its parser: sentences come from a sentencizer, which keeps
throughput high; English runs on `spacy.blank("en")` with lookup lemmas (spacy-lookups-data) unless an English model
package such as `en_core_web_sm` is installed (`pip install en_core_web_sm` from a wheel), which is then used.
Any other language gets a blank pipeline and is flagged.

Components, in order, after the model's own:
- `veille_normalizer` sets `token.norm_` to the lemma without accents or case, so rules written once match every
  inflection and spelling ("rachète", "a racheté", "Rachat" -> "racheter" / "rachat");
- `veille_companies` finds configured competitors by name, alias or domain (accents and case ignored) and keeps
  the model's other organisations, in `doc.ents` (label ORG, `kb_id_` = competitor id);
- `veille_rules` matches the lexicon of nlp/rules.yaml and stores, per label, its best rule score and trigger.
"""

from __future__ import annotations

import functools
import importlib.util
import itertools
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import spacy
import yaml
from spacy.language import Language
from spacy.matcher import Matcher, PhraseMatcher
from spacy.tokenizer import Tokenizer
from spacy.tokens import Doc, Span
from spacy.util import filter_spans

from nlp.text import fold

log = logging.getLogger(__name__)
RULES_FILE = Path(__file__).with_name("rules.yaml")
TAXONOMY_FILE = Path(__file__).with_name("taxonomy.yaml")
MODELS = {"fr": "fr_core_news_sm", "en": "en_core_web_sm"}
OUR_COMPONENTS = ("veille_normalizer", "veille_companies", "veille_rules")
# Rule weights. Measured on nlp/dev: no rule is precise enough to decide alone across sectors (letting strong
# move rules decide cost 2 points of micro-F1), so every rule is evidence combined with the model's.
STRONG, WEAK = 0.45, 0.3
MAX_CHARS = 5000  # longer texts are truncated for the models (a 1 MB page must not stall a run)

if not Doc.has_extension("rule_hits"):
    Doc.set_extension("rule_hits", default=None)


def taxonomy() -> dict[str, str]:
    """label id -> axis ('trends' or 'moves')."""
    return dict(_taxonomy())


@functools.lru_cache(maxsize=1)
def _taxonomy() -> tuple[tuple[str, str], ...]:
    data = yaml.safe_load(TAXONOMY_FILE.read_text(encoding="utf-8"))
    return tuple((label["id"], axis) for axis in ("trends", "moves") for label in data[axis])


class WordCache:
    """spaCy's tokenizer, with its cache of words filled so that it works on every word: same tokens, faster.

    spaCy caches how each whitespace-separated chunk splits, but does not save a chunk met after a special case
    (an exception such as "aujourd'hui", "M." or "don't") in the same text (spaCy issue #1250): in news prose a
    third of the chunks came after one and were split again every time by the affix regexes, and in French by its
    very large `token_match` too. A chunk met a second time is tokenized once alone, which caches it (a chunk met
    once is left alone: tokenizing it twice would cost more than it saves); the text is then tokenized by spaCy
    as before, so the tokens are exactly spaCy's (tests/test_nlp.py compares them).
    """

    LIMIT = 100_000  # distinct chunks remembered (and the tokenizer's cache size): a few MB, for texts without end
    OWN = ("tokenizer", "seen")

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        self.seen: dict[str, bool] = {}  # chunk -> whether it was tokenized alone
        if getattr(tokenizer, "max_cache_size", self.LIMIT) < self.LIMIT:
            tokenizer.max_cache_size = self.LIMIT  # spaCy's default of 10,000 fills up within one large run

    def __call__(self, text: str) -> Doc:
        seen, tokenizer = self.seen, self.tokenizer
        if len(seen) < self.LIMIT:
            for chunk in text.split():
                alone = seen.get(chunk)
                if alone is None:
                    seen[chunk] = False
                elif not alone:
                    seen[chunk] = True
                    tokenizer(chunk)
        return tokenizer(text)

    def pipe(self, texts: Any, batch_size: int = 1000) -> Any:
        for text in texts:
            yield self(text)

    def __getattr__(self, name: str) -> Any:  # vocab, rules, to_bytes...: those of spaCy's tokenizer
        if name in self.OWN or name.startswith("__"):  # not set yet (a copy being made): no recursion
            raise AttributeError(name)
        return getattr(self.tokenizer, name)

    def __setattr__(self, name: str, value: Any) -> None:  # nlp.tokenizer.rules = ... sets spaCy's own
        if name in self.OWN:
            object.__setattr__(self, name, value)
        else:
            setattr(self.tokenizer, name, value)
            self.seen = {}  # spaCy empties its cache when its rules change


@Language.factory("veille_normalizer")
def make_normalizer(nlp: Language, name: str) -> Any:
    # The tagger-driven lemmatizer of fr_core_news_sm depends on the part of speech, and headlines fool the tagger
    # ("Rouléo rachète …": rachète tagged ADJ, lemma "rachèt"). A lookup table does not care: when it knows the
    # word, its lemma wins; otherwise the pipeline's own lemma is kept ("lève" -> "lever").
    # The norm depends only on the word and the pipeline's lemma, so it is computed once per (word, lemma) pair:
    # table lookups and folding per token were the largest cost of the blank pipelines.
    table = _lookup_table(nlp)
    norms: dict[tuple[int, int], str] = {}

    def norm_of(token: Any) -> str:
        if token.text.isupper() and 1 < len(token.text) <= 3:  # an acronym: "AI" is no form of "ain't"'s "have"
            return fold(token.text)
        known = (table.get(token.text) or table.get(token.lower_)) if table is not None else None
        if isinstance(known, (list, tuple)):  # a few entries list several lemmas: the first is the usual one
            known = known[0] if known else None
        lemma = known if known and known != token.text else (token.lemma_ or token.text)
        return fold(lemma)

    def normalize(doc: Doc) -> Doc:
        for token in doc:
            key = (token.orth, token.lemma)
            norm = norms.get(key)
            if norm is None:
                norm = norms[key] = norm_of(token)
            token.norm_ = norm
        return doc

    return normalize


def _lookup_table(nlp: Language) -> Any:
    # A lookup lemmatizer already holds the table (loading it again cost a second per pipeline).
    if "lemmatizer" in nlp.pipe_names:
        lookups = getattr(nlp.get_pipe("lemmatizer"), "lookups", None)
        if lookups is not None and lookups.has_table("lemma_lookup"):
            return lookups.get_table("lemma_lookup")
    try:
        from spacy.util import load_language_data, registry

        raw = load_language_data(registry.lookups.get(nlp.lang)["lemma_lookup"])
    except (ValueError, KeyError, ImportError, OSError):  # no table for this language in spacy-lookups-data
        return None
    # A plain dict whose lemmas are shared strings: French maps 217,000 forms to far fewer lemmas, and spaCy's
    # Table (an OrderedDict of hashes to separate strings) took 86 MB in every classifying process, 25 here.
    lemmas: dict[str, str] = {}
    table = {}
    for form, lemma in raw.items():
        if isinstance(lemma, (list, tuple)):  # a few entries list several lemmas: the first is the usual one
            lemma = lemma[0] if lemma else None
        if isinstance(lemma, str):
            table[form] = lemmas.setdefault(lemma, lemma)
    return table or None


@Language.factory("veille_companies", default_config={"competitors": []})
def make_companies(nlp: Language, name: str, competitors: list[dict]) -> CompanyFinder:
    return CompanyFinder(competitors)


class CompanyFinder:
    """Competitors by name, alias or domain, found on the folded text so that accents and case never matter."""

    def __init__(self, competitors: list[dict]):
        self.ids: dict[str, str] = {}
        for competitor in competitors:
            for name in [competitor["name"], competitor["id"], *competitor.get("aliases", []), *competitor.get("domains", [])]:
                if name and len(name) >= 2:
                    self.ids[fold(name)] = competitor["id"]
        names = sorted(self.ids, key=len, reverse=True)
        self.pattern = re.compile(r"(?<!\w)(" + "|".join(re.escape(n) for n in names) + r")(?!\w)") if names else None

    def __call__(self, doc: Doc) -> Doc:
        spans = []
        if self.pattern is not None:
            for match in self.pattern.finditer(fold(doc.text)):
                span = doc.char_span(match.start(), match.end(), label="ORG", kb_id=self.ids[match.group(1)],
                                     alignment_mode="expand")
                if span is not None:
                    spans.append(span)
        others = [e for e in doc.ents if e.label_ in ("ORG", "ORGANIZATION")]
        doc.ents = filter_spans(spans + [e for e in others if not any(e.start < s.end and s.start < e.end for s in spans)])
        return doc


@Language.factory("veille_rules")
def make_rules(nlp: Language, name: str) -> RuleMatcher:
    return RuleMatcher(nlp.vocab)


# Words that turn a trigger into its opposite when they stand just before it in its sentence ("n'a pas été
# dévoilé", "did not disclose", "dément tout projet de rachat"). French negation needs "ne" and its second word.
NEGATION_WINDOW = 5
MATCH_TOKENS = 400  # tokens of a text the patterns are matched on: more than any title and lead
NEG_FR_FIRST = {"ne", "n"}
NEG_FR_SECOND = {"pas", "jamais", "plus", "aucun", "aucune", "rien", "point", "guere", "ni"}
NEG_ALONE = {"sans", "dementir", "dement", "aucun", "aucune", "not", "n't", "never", "no", "without", "deny",
             "denies", "denied", "nor"}


class RuleMatcher:
    """Event patterns of nlp/rules.yaml matched on normalised lemmas; patterns are added by `build_pipeline`.

    A pattern is a sequence of lemmas, each slot possibly a choice (`prix|tarif`), slots possibly separated by a
    gap of a few words (`baisser … prix`); it does not count when a negation stands just before it in its sentence,
    nor in a sentence that also holds one of the label's wrong-sense phrases (`not_with`: "campagne électorale" is
    no marketing campaign).
    """

    def __init__(self, vocab: Any):
        self.vocab = vocab
        # Patterns without a gap go to a PhraseMatcher (a trie: its cost does not grow with the number of
        # patterns), the others to a Matcher, whose cost grows with every pattern at every token (all patterns in a
        # Matcher made classification 10x slower).
        self.phrases, self.matcher = PhraseMatcher(vocab, attr="NORM"), Matcher(vocab)
        self.veto_phrases, self.vetoes = PhraseMatcher(vocab, attr="NORM"), Matcher(vocab)
        self.weights: dict[str, tuple[str, float, str]] = {}  # match key -> (label, weight, phrase)

    def add(self, label: str, weight: float, phrase: str, patterns: list[list[dict]]) -> None:
        key = f"{label}|{weight}|{phrase}"
        self.weights[key] = (label, weight, phrase)
        self._add(key, patterns, self.phrases, self.matcher)

    def add_veto(self, label: str, patterns: list[list[dict]]) -> None:
        self._add(f"veto|{label}", patterns, self.veto_phrases, self.vetoes)

    def _add(self, key: str, patterns: list[list[dict]], phrases: PhraseMatcher, matcher: Matcher) -> None:
        gapped = [p for p in patterns if any("NORM" not in t for t in p)]
        plain = [p for p in patterns if p not in gapped]
        if gapped:
            matcher.add(key, gapped)
        docs = []
        for pattern in plain:
            for words in itertools.product(*(t["NORM"]["IN"] for t in pattern)):
                doc = Doc(self.vocab, words=list(words))
                for token, word in zip(doc, words):
                    token.norm_ = word
                docs.append(doc)
        if docs:
            phrases.add(key, docs)

    @staticmethod
    def _matches(phrases: PhraseMatcher, matcher: Matcher, span: Span) -> list[tuple[int, int, int]]:
        return [*(phrases(span) if len(phrases) else ()), *(matcher(span) if len(matcher) else ())]

    def __call__(self, doc: Doc) -> Doc:
        # Every match is kept (label -> [(phrase, lexicon weight, token index)]): the trained model may carry its
        # own weight per phrase, measured on nlp/train (see nlp/textcat.py `rule_score`). Only the start of the text
        # is read: the classifier uses the title and lead (nlp/textcat.py LEAD_WORDS), and gaps make the matcher
        # cost grow with the text.
        span = doc[:MATCH_TOKENS]
        sentence_of = [0] * len(span)  # token -> start of its sentence (Token.sent walks the doc each time)
        ends: dict[int, int] = {}  # sentence start -> its end
        for sent in doc.sents:
            if sent.start >= len(span):
                break
            ends[sent.start] = sent.end
            for i in range(sent.start, min(sent.end, len(span))):
                sentence_of[i] = sent.start
        vetoed: dict[str, set[int]] = {}  # label -> start tokens of the sentences where it takes a wrong sense
        for match_id, start, _end in self._matches(self.veto_phrases, self.vetoes, span):
            vetoed.setdefault(doc.vocab.strings[match_id].split("|", 1)[1], set()).add(sentence_of[start])
        hits: dict[str, list[tuple[str, float, int]]] = {}
        for match_id, start, _end in self._matches(self.phrases, self.matcher, span):
            label, weight, phrase = self.weights[doc.vocab.strings[match_id]]
            first = sentence_of[start]
            if first in vetoed.get(label, ()) or _negated(doc, start, first, ends[first]):
                continue
            hits.setdefault(label, []).append((phrase, weight, start))
        doc._.rule_hits = hits
        return doc


def _negated(doc: Doc, start: int, sentence_start: int, sentence_end: int) -> bool:
    # A negation reaches no further than the clause: "« Lyon sans voiture » : Veloce lance sa campagne" launches.
    first = max(sentence_start, start - NEGATION_WINDOW)
    for i in range(start - 1, first - 1, -1):
        if doc[i].is_punct:
            first = i + 1
            break
    before = [t.norm_ for t in doc[first:start]]
    if any(n in NEG_ALONE for n in before):
        return True
    # "n'a pas été dévoilé": both words before; "ne dévoile pas": the second one just after the verb.
    after = [t.norm_ for t in doc[start + 1:min(sentence_end, start + 3)]]
    return any(n in NEG_FR_FIRST for n in before) and any(n in NEG_FR_SECOND for n in before + after)


@dataclass
class Pipelines:
    """One spaCy pipeline per language, built on first use."""

    competitors: list[dict]
    use_models: bool = True
    built: dict[str, Language] = field(default_factory=dict)
    flags: dict[str, str] = field(default_factory=dict)  # lang -> why the pipeline is reduced

    def get(self, lang: str) -> Language:
        if lang not in self.built:
            self.built[lang] = build_pipeline(lang, self.competitors, self.flags, self.use_models)
        return self.built[lang]


def competitors_of(config: Any) -> list[dict]:
    """The competitor list of a configuration, as the plain data a spaCy component config takes."""
    if config is None:
        return []
    return [{"id": c.id, "name": c.name, "aliases": list(c.aliases), "domains": list(c.domains)} for c in config.competitors]


def build_pipeline(lang: str, competitors: list[dict], flags: dict[str, str] | None = None,
                   use_models: bool = True) -> Language:
    """The pipeline for `lang`: its model package when installed (and wanted), else a blank one; then veille's
    components."""
    flags = flags if flags is not None else {}
    package = MODELS.get(lang)
    if use_models and package and importlib.util.find_spec(package):
        # The parser is the slowest component and nothing here needs a dependency tree.
        nlp = spacy.load(package, exclude=["parser"])
        nlp.add_pipe("sentencizer", first=True)
    else:
        try:
            nlp = spacy.blank(lang)
        except (ImportError, KeyError, ValueError):
            nlp, flags[lang] = spacy.blank("xx"), "no_pipeline"
        else:
            if lang != "en" and use_models:
                flags[lang] = "blank_pipeline"
        nlp.add_pipe("sentencizer")
        if lang in ("en", "fr", "de", "es", "it", "nl", "pt"):
            try:
                nlp.add_pipe("lemmatizer", config={"mode": "lookup"}).initialize()
            except (ValueError, OSError) as exc:  # no lookup tables for this language
                log.debug("no lookup lemmas for %s: %s", lang, exc)
                nlp.remove_pipe("lemmatizer")
    if isinstance(nlp.tokenizer, Tokenizer):  # not the tokenizers without a cache (Chinese, Japanese...)
        nlp.tokenizer = WordCache(nlp.tokenizer)
    nlp.add_pipe("veille_normalizer")
    nlp.add_pipe("veille_companies", config={"competitors": competitors})
    rules = nlp.add_pipe("veille_rules")
    _load_rules(nlp, rules, lang)
    return nlp


GAP = ("…", "...")  # a gap of up to GAP_WORDS words between two slots of a pattern
GAP_WORDS = 3
NUMBER = "#"  # a slot for any number ("# €": a price as written, "399,90 €", not "3 milliards d'euros")


def _load_rules(nlp: Language, rules: RuleMatcher, lang: str) -> None:
    data = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    key = lang if lang in ("fr", "en") else "en"
    wanted = [(label, weight, str(phrase)) for label, entry in data.items()
              for strength, weight in (("strong", STRONG), ("weak", WEAK))
              for phrase in (entry.get(strength) or {}).get(key, [])]
    vetoes = [(label, str(phrase)) for label, entry in data.items()
              for phrase in (entry.get("not_with") or {}).get(key, [])]
    # Every choice of every slot is lemmatised alone by the same pipeline as the texts; entities are not looked
    # for (the model's NER is the slowest part).
    words = sorted({choice for _, _, phrase in wanted for choice in _choices(phrase)}
                   | {choice for _, phrase in vetoes for choice in _choices(phrase)})
    with nlp.select_pipes(disable=[n for n in ("ner", "veille_companies", "veille_rules") if n in nlp.pipe_names]):
        # A word alone may be lemmatised otherwise than in a sentence ("redressement" alone -> "redressemer"): its
        # folded surface form is accepted too.
        norms = {word: [{t.norm_, fold(t.text)} for t in doc if not t.is_space]
                 for word, doc in zip(words, nlp.pipe(words))}
    for label, weight, phrase in wanted:
        rules.add(label, weight, phrase, compile_pattern(phrase, norms))
    for label, phrase in vetoes:
        rules.add_veto(label, compile_pattern(phrase, norms))


def _slots(phrase: str) -> list[str]:
    """`baisser … prix|tarif` -> ["baisser", "…", "prix|tarif"]."""
    return phrase.replace("...", " … ").replace("…", " … ").split()


def _choices(phrase: str) -> list[str]:
    return [choice for slot in _slots(phrase) if slot not in GAP and slot != NUMBER for choice in slot.split("|")]


def compile_pattern(phrase: str, norms: dict[str, list[set[str]]]) -> list[list[dict]]:
    """Matcher patterns for one phrase of nlp/rules.yaml, given the norms of each of its words.

    A choice that the tokenizer splits ("s'offrir" -> "s'", "offrir") takes several tokens, so each combination of
    multi-token choices is a pattern of its own; single-token choices share one `IN` slot.
    """
    patterns: list[list[dict]] = [[]]
    for slot in _slots(phrase):
        if slot in GAP:
            patterns = [p + [{"OP": "?"}] * GAP_WORDS for p in patterns]
            continue
        if slot == NUMBER:
            patterns = [p + [{"LIKE_NUM": True}] for p in patterns]
            continue
        single = sorted(set().union(*(norms[c][0] for c in slot.split("|") if len(norms[c]) == 1)))
        multi = [norms[c] for c in slot.split("|") if len(norms[c]) > 1]
        options = ([[{"NORM": {"IN": single}}]] if single else []) + [[{"NORM": {"IN": sorted(n)}} for n in m]
                                                                       for m in multi]
        patterns = [p + option for p in patterns for option in options]
    # A gap at either end means nothing: strip it.
    return [_strip_gaps(p) for p in patterns if any("NORM" in t for t in p)]


def _strip_gaps(pattern: list[dict]) -> list[dict]:
    while pattern and "OP" in pattern[0]:
        pattern = pattern[1:]
    while pattern and "OP" in pattern[-1]:
        pattern = pattern[:-1]
    return pattern
