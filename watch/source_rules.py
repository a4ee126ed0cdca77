"""Rules `veille sources check` adds to a valid configuration: what loads but cannot work, or should be written down.

A source in a language without a pipeline would be collected but never classified as its language (the NLP stage
has French and English pipelines only): refused. A source without a legitimacy note leaves the watch plan's
criterion on legitimate sources without evidence: a warning, the file stays usable.
"""

from __future__ import annotations

from watch.config import Config, source_locations
from watch.errors import Problem
from watch.i18n import tx

# The languages nlp/ has a pipeline for (rules, training data, models): nlp/pipeline.py, nlp/rules.yaml.
PIPELINE_LANGUAGES = ("fr", "en")


def source_rules(config: Config) -> tuple[list[Problem], list[Problem]]:
    """(problems, warnings) of the configured sources, each located at its file:line."""
    problems: list[Problem] = []
    warnings: list[Problem] = []
    for index, source in enumerate(config.sources):
        if source.language not in PIPELINE_LANGUAGES:
            problems.append(_located(config, index, source.id, "language", Problem(
                "", None, "", tx("language {language!r} has no pipeline (source {id})", language=source.language, id=source.id),
                tx("supported languages: {pipeline_languages}; write the closest one, or remove the source", pipeline_languages=', '.join(PIPELINE_LANGUAGES)))))
        if not source.legitimacy.strip():
            warnings.append(_located(config, index, source.id, "legitimacy", Problem(
                "", None, "", tx("empty legitimacy note (source {id})", id=source.id),
                tx("say why collecting it is legitimate: public source, terms of use, robots.txt, the company's "
                  "subscription"))))
    return problems, warnings


def _located(config: Config, index: int, source_id: str, field: str, problem: Problem) -> Problem:
    """The problem at the line of `field` when the file writes it, else at the source's line."""
    found = source_locations(config, source_id, (field,))
    where = found.get(field) or found.get("source") or str(config.path or "")
    file, _, line = where.rpartition(":")
    return Problem(file or where, int(line) if line.isdigit() else None, f"sources[{index}].{field}", problem.message,
                   problem.hint)
