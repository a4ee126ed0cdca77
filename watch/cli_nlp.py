"""The NLP commands of `veille`: classify the store, label corrections, and `veille nlp …` for any text.

Thin wrappers like watch/cli.py: parse options, call one library function, print the result.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from watch.config import Config, load_config
from watch.errors import ConfigError, UsageError
from watch.i18n import tx, tx_n
from watch.output import emit, raw_option, wide_option


def run_classification(config: Config, store, *, since=None, everything=False, console=None):
    """Classify with a progress bar on stderr; used by `veille classify` and after `veille collect`."""
    from nlp.stage import classify

    with Progress(TextColumn(tx("classifying")), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("", total=None)
        return classify(config, store, since=since, everything=everything,
                        progress=lambda done, total: bar.update(task, completed=done, total=total))


def _optional_config(path: str | None) -> Config | None:
    """The configuration when there is one (for the competitor list); these commands also work without it."""
    try:
        return load_config(path)
    except ConfigError as exc:
        if path is None and len(exc.problems) == 1 and exc.problems[0].line is None:
            return None  # no ./sources.yaml: classify without competitors
        raise


def _read_inputs(source: str, on_error: Callable[[UsageError], None] | None = None):
    """JSON lines {"id", "text", "title"?, "lang"?}; `veille items --format jsonl` output is accepted as is.

    An unreadable line stops the reading, or with `on_error` is reported to it and skipped.
    """
    from nlp.classify import TextInput

    try:
        stream = sys.stdin if source == "-" else open(source, encoding="utf-8")
    except OSError as exc:
        raise UsageError(tx("{source}: cannot read ({strerror})", source=source, strerror=exc.strerror)) from None
    with stream:
        for number, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict) or "id" not in row:
                    raise ValueError(tx("a JSON object with an id is expected"))
                for key in ("text", "title", "summary", "lang"):
                    if row.get(key) is not None and not isinstance(row[key], str):
                        raise ValueError(tx("field {key} must be a string", key=key))
            except ValueError as exc:
                problem = UsageError(tx("{source}:{number}: unreadable line ({exc})", source=source, number=number, exc=exc))
                if on_error is None:
                    raise problem from None
                on_error(problem)
                continue
            text = row.get("text") or ""
            if row.get("summary") and row["summary"] not in text:
                text = f"{row['summary']} {text}".strip()
            yield TextInput(row["id"], text, row.get("title") or "", row.get("lang")), row


@click.command()
@click.option("--all", "everything", is_flag=True, help=tx("Reclassify every item."))
@click.option("--since", metavar="WHEN", help=tx("Reclassify items first seen since 7d, 2w or a date."))
@click.pass_obj
def classify(obj, everything: bool, since: str | None) -> None:
    """Classer les articles / classify items (labels, companies, score, stories).

    Without options, only items never classified (collection runs it after storing).

    \b
    Exemples / examples:
      veille classify
      veille classify --since 7d
      veille classify --all
    """
    from watch.cli_support import err, handle_errors, parse_since

    @handle_errors
    def run() -> None:
        with obj.store() as store:
            report = run_classification(obj.config, store, since=parse_since(since), everything=everything, console=err)
        click.echo(tx("{classified} item(s) classified, {scored} scored, {stories} multi-source stories", classified=report.classified, scored=report.scored, stories=report.stories))

    run()


@click.command()
@click.argument("item_id", type=int)
@click.argument("label")
@click.option("--remove", is_flag=True, help=tx("The label is wrong: remove it."))
@click.pass_obj
def label(obj, item_id: int, label: str, remove: bool) -> None:
    """Corriger une étiquette / correct a label (kept, and used by `veille nlp train`).

    \b
    Exemples / examples:
      veille label 42 acquisition
      veille label 42 launch --remove
    """
    from nlp.pipeline import taxonomy
    from watch.cli_support import handle_errors

    @handle_errors
    def run() -> None:
        axes = taxonomy()
        if label not in axes:
            import difflib

            close = difflib.get_close_matches(label, list(axes), n=1)
            raise UsageError(tx("unknown label {label!r}", label=label)
                             + (tx(" (did you mean {close!r}?)", close=close[0]) if close else ""))
        with obj.store() as store:
            if not store.correct_label(item_id, label, axes[label], remove=remove):
                raise UsageError(tx("no item {item_id}", item_id=item_id))
            from nlp.stage import rescore

            rescore(obj.config, store, also=[item_id])  # the item's score and "why" follow the corrected label at once
        click.echo(tx("Item {item_id}: {label} removed", item_id=item_id, label=label) if remove
                   else tx("Item {item_id}: {label} added", item_id=item_id, label=label))

    run()


@click.group()
def nlp() -> None:
    """Classer n'importe quel texte, entraîner, évaluer / classify any text, train, evaluate."""


@nlp.command("classify")
@click.argument("source", default="-", metavar="[FILE|-]")
@click.pass_obj
def nlp_classify(obj, source: str) -> None:
    """Classer des lignes JSON sans base / classify JSON lines without a database.

    Input: one {"id", "text", "title"?, "lang"?} per line. Output: one line per input with lang, labels
    (axis, label, score, by), entities (text, label, competitor) and actor. An unreadable line is reported on
    stderr with its number, the others are still classified (exit status 1).

    \b
    Exemples / examples:
      echo '{"id": 1, "text": "Veloce rachète Rouléo"}' | veille nlp classify
      veille items --format jsonl | veille nlp classify -
    """
    from nlp.classify import classify_texts
    from watch.cli_support import handle_errors

    @handle_errors
    def run() -> None:
        config = _optional_config(obj.config_path)
        problems: list[str] = []

        def report(problem: UsageError) -> None:  # in input order, as soon as the line is passed
            problems.append(str(problem))
            click.echo(str(problem), err=True)

        inputs = (text for text, _ in _read_inputs(source, report))
        for analysis in classify_texts(inputs, config):
            click.echo(json.dumps(analysis.as_json(), ensure_ascii=False))
        if problems:
            click.echo(tx("{n_problems} line(s) skipped, the others were classified", n_problems=len(problems)), err=True)
            sys.exit(1)

    run()


@nlp.command("cluster")
@click.argument("source", default="-", metavar="[FILE|-]")
@click.pass_obj
def nlp_cluster(obj, source: str) -> None:
    """Regrouper les mêmes histoires / group texts telling the same story.

    Input as for `veille nlp classify` (an optional "published_at" and "source" help; a missing or future date
    counts as now); output {"id", "story"}, the story named by the id of its first input. An unreadable line is
    reported on stderr with its number, the others are still grouped (exit status 1). The grouping is the one the
    store's stories get.

    \b
    Exemple / example:
      veille items --since 7d --format jsonl | veille nlp cluster -
    """
    from nlp.classify import classify_texts
    from nlp.stage import story_item
    from nlp.stories import group_stories
    from watch.cli_support import err, handle_errors

    problems: list[UsageError] = []

    def report(problem: UsageError) -> None:
        problems.append(problem)
        err.print(str(problem), markup=False, highlight=False)

    @handle_errors
    def run() -> None:
        config = _optional_config(obj.config_path)
        pairs = list(_read_inputs(source, on_error=report))
        now = datetime.now(timezone.utc)
        items = []
        for index, analysis in enumerate(classify_texts((t for t, _ in pairs), config)):
            _, row = pairs[index]
            # The row a store would hold for this input, so that the store's stories and these are one function's.
            stored = {"id": index, "source": str(row.get("source") or f"input-{index}"), "title": row.get("title"),
                      "summary": row.get("summary"), "text": row.get("text"), "lang": analysis.lang,
                      "published_at": row.get("published_at"), "first_seen": row.get("first_seen"),
                      "url": row.get("url"), "labels": analysis.labels,
                      "companies": [e["competitor"] or e["text"].lower() for e in analysis.entities]}
            items.append(story_item(stored, now, keep_story=False))
        groups = group_stories(items)
        for index, (text, _) in enumerate(pairs):
            click.echo(json.dumps({"id": text.id, "story": pairs[groups[index]][0].id}, ensure_ascii=False))

    run()
    if problems:
        sys.exit(1)


@nlp.command("train")
@click.option("--epochs", type=click.IntRange(1, 100), default=None,
              help=tx("Training passes over the examples (default 8, those of the shipped model)."))
@click.pass_obj
def nlp_train(obj, epochs: int | None) -> None:
    """Réentraîner le modèle / retrain the model from nlp/train plus analysts' corrections.

    The new model is written under the data folder (next to the database) and used from then on.

    \b
    Exemple / example:
      veille nlp train
    """
    from nlp.textcat import EPOCHS, TRAIN_DIR, Example_, load_examples, train
    from watch.cli_support import handle_errors

    @handle_errors
    def run() -> None:
        examples = load_examples(TRAIN_DIR)
        with obj.store() as store:
            corrected = [Example_(f"db-{r['id']}", r["lang"] or "", r["title"] or "", r["summary"] or r["text"] or "",
                                  frozenset(r["labels"])) for r in store.corrected_items()]
            out = Path(store.path).parent / "model"
        from nlp.pipeline import Pipelines, competitors_of

        config = _optional_config(obj.config_path)
        train(examples + corrected, out, Pipelines(competitors_of(config)), epochs=epochs or EPOCHS)
        click.echo(tx("Model trained on {n_examples} examples + {n_corrected} corrections: {out}", n_examples=len(examples), n_corrected=len(corrected), out=out))

    run()


@nlp.command("eval")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True,
              help="table | json | csv")
@raw_option
@click.option("--real/--no-real", default=True, show_default=True,
              help=tx("Also measure on the real news of the shared corpus (VEILLE_NEWS_CORPUS), when it is there."))
@click.pass_obj
def nlp_eval(obj, fmt: str, real: bool) -> None:
    """Évaluer sur nlp/dev et sur de la presse réelle / evaluate on the dev set and on real news; exit 1 below the
    pinned floors.

    The real news (French press items, English company-news sentences, Reuters, MasakhaNEWS) is measurement data
    kept outside the repository: `../shared/corpus/news` beside it, or the folder VEILLE_NEWS_CORPUS names.

    \b
    Exemples / examples:
      veille nlp eval
      veille nlp eval --no-real --format json
    """
    from nlp.classify import Classifier
    from nlp.evaluate import evaluate
    from nlp.realnews import corpus_folder, measure
    from nlp.textcat import DEV_DIR, load_examples
    from watch.cli_support import err, handle_errors

    @handle_errors
    def run() -> None:
        classifier = Classifier(_optional_config(obj.config_path))
        report = evaluate(load_examples(DEV_DIR), classifier)
        emit(report.rows, fmt, title="nlp/dev")
        summary = {"micro_f1": report.micro_f1, "macro_f1": report.macro_f1, "floors": report.floors,
                   "passed": report.passed}
        passed = report.passed
        if real and corpus_folder().is_dir():
            with err.status(tx("measuring on real news…")) as status:
                found = measure(classifier, progress=lambda name: status.update(name))
            emit(found.rows, fmt, title=tx("real news ({corpus_folder})", corpus_folder=corpus_folder()))
            summary["real"] = {"figures": found.figures, "floors": found.floors, "below_floors": found.failures}
            passed = passed and not found.failures
        elif real:
            summary["real"] = {"skipped": tx("{corpus_folder} not found", corpus_folder=corpus_folder())}
        summary["passed"] = passed
        click.echo(json.dumps(summary, ensure_ascii=False), err=fmt != "table")
        sys.exit(0 if passed else 1)

    run()


@click.command()
@click.option("--weeks", "baseline", type=click.IntRange(2, 52), default=8, show_default=True,
              help=tx("Trailing weeks the current week is compared with."))
@click.option("--min-count", type=click.IntRange(1), default=3, show_default=True,
              help=tx("Items a term needs this week to be flagged."))
@click.option("--kind", type=click.Choice(["all", "phrase", "entity", "label"]), default="all", show_default=True,
              help=tx("All, noun phrases, companies (entity) or labels."))
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True,
              help="table | json | csv")
@raw_option
@wide_option
@click.pass_obj
def trends(obj, baseline: int, min_count: int, kind: str, fmt: str) -> None:
    """Termes en hausse / rising terms: this week against the trailing weeks, with sparklines.

    Noun phrases, companies and labels of the items published each week (ISO weeks, Europe/Paris).

    \b
    Exemples / examples:
      veille trends
      veille trends --kind phrase --format json
    """
    from nlp.trends import iso_week, previous_weeks, rising_terms, sparkline, weekly_counts
    from watch.cli_support import handle_errors

    @handle_errors
    def run() -> None:
        now = datetime.now(timezone.utc)
        current = iso_week(now)
        with obj.store() as store:
            counts = weekly_counts(store, [*previous_weeks(current, baseline), current],
                                   None if kind == "all" else [kind])
        rising = rising_terms(counts, current, baseline_weeks=baseline, min_count=min_count)
        rows = [{"term": r.term, "kind": r.kind, "count": r.count, "baseline": round(r.baseline, 2),
                 "ratio": round(r.ratio, 1), "z": round(r.z, 1),
                 "weeks": sparkline(r.weeks) if fmt == "table" else list(r.weeks)} for r in rising]
        this_week = sum(1 for by_week in counts.values() if by_week.get(current))
        why = _no_rising(kind, this_week, current=current, min_count=min_count, baseline=baseline)
        emit(rows, fmt, title=tx("Rising terms, week {iso_week}", iso_week=iso_week(now)),
             empty=why)

    run()


def _no_rising(kind: str, this_week: int, **values) -> str:
    """Why no term rose; one message per kind, since French nouns have a gender ("aucun terme", "aucune étiquette")."""
    if kind == "all":
        return tx_n("No rising term in week {current}: {n} mentioned this week, none at least {min_count} times and "
                    "twice as often as on average over the {baseline} previous weeks (--min-count and --weeks change these thresholds).",
                    "No rising term in week {current}: {n} mentioned this week, none at least {min_count} times and "
                    "twice as often as on average over the {baseline} previous weeks (--min-count and --weeks change these thresholds).", this_week, **values)
    if kind == "phrase":
        return tx_n("No rising phrase in week {current}: {n} mentioned this week, none at least {min_count} times and "
                    "twice as often as on average over the {baseline} previous weeks (--min-count and --weeks change these thresholds).",
                    "No rising phrase in week {current}: {n} mentioned this week, none at least {min_count} times and "
                    "twice as often as on average over the {baseline} previous weeks (--min-count and --weeks change these thresholds).", this_week, **values)
    if kind == "entity":
        return tx_n("No rising company in week {current}: {n} mentioned this week, none at least {min_count} times and "
                    "twice as often as on average over the {baseline} previous weeks (--min-count and --weeks change these thresholds).",
                    "No rising company in week {current}: {n} mentioned this week, none at least {min_count} times and "
                    "twice as often as on average over the {baseline} previous weeks (--min-count and --weeks change these thresholds).", this_week, **values)
    return tx_n("No rising label in week {current}: {n} mentioned this week, none at least {min_count} times and "
                "twice as often as on average over the {baseline} previous weeks (--min-count and --weeks change these thresholds).",
                "No rising label in week {current}: {n} mentioned this week, none at least {min_count} times and "
                "twice as often as on average over the {baseline} previous weeks (--min-count and --weeks change these thresholds).", this_week, **values)
