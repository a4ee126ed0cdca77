"""The watch plan's commands: `veille plan` (the nine criteria with their evidence) and `veille sources audit`.

Thin wrappers like watch/cli.py: parse options, call one library function, print the result. `watch.cli` is
imported inside the commands because it registers these commands at its bottom (as for watch/cli_nlp.py).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from watch.errors import UsageError
from watch.i18n import tx
from watch.output import emit, raw_option


def _document_language() -> str:
    """French unless VEILLE_LANG asks for English: the plan is a French document first (RNCP standard)."""
    return "en" if os.environ.get("VEILLE_LANG", "").strip().lower().startswith("en") else "fr"


@click.command()
@click.option("--format", "fmt", type=click.Choice(["html", "md", "json"]), default=None,
              help=tx("html (one self-contained page, prints to PDF) | md (for a wiki) | json. Default: from "
                     "--out's extension, else html."))
@click.option("--lang", type=click.Choice(["fr", "en"]), default=None,
              help=tx("Language of the document (default fr; en when VEILLE_LANG=en)."))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="PATH",
              help=tx("Write the document to this file (default: standard output)."))
@click.pass_obj
def plan(obj, fmt: str | None, lang: str | None, out: Path | None) -> None:
    """Le plan de veille : les neuf critères, leurs preuves, les écarts / the watch plan: nine criteria, evidence, gaps.

    For each point of the French professional standard (RNCP C1.1.1): what sources.yaml declares and what the
    database measured, then a self-assessment of the gaps to close.

    \b
    Exemples / examples:
      veille plan --out plan.html          # ouvrir dans un navigateur, imprimer en PDF
      veille plan --format md --lang en --out plan.md
      veille plan --format json | jq '.findings[] | select(.severity == "high")'
    """
    from watch.cli_support import err, handle_errors
    from watch.plan import watch_plan
    from watch.plan_render import render_plan

    @handle_errors
    def run() -> None:
        chosen = fmt or ("md" if out and out.suffix.lower() in (".md", ".markdown") else
                         "json" if out and out.suffix.lower() == ".json" else "html")
        config = obj.config
        with obj.store() as store, err.status(tx("Watch plan: reading the database…")):
            document = watch_plan(config, store, lang=lang or _document_language())
        text = render_plan(document, chosen)
        findings = document.findings
        summary = tx("{sum}/9 criteria met, {n_findings} gap(s), {sum2} major", sum=sum((p.status == 'met' for p in document.points)), n_findings=len(findings), sum2=sum((f.severity == 'high' for f in findings)))
        if out is None:
            sys.stdout.write(text)
            err.print(summary, markup=False)
            return
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(tx("cannot write {out}: {value}", out=out, value=exc.strerror or exc)) from None
        click.echo(tx("Watch plan written: {out} ({summary})", out=out, summary=summary))

    run()


@click.command("audit")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True,
              help=tx("table | json (sources, diversity, recommendations) | csv (one row per source)"))
@raw_option
@click.pass_obj
def audit(obj, fmt: str) -> None:
    """Audit des sources : diversité, légitimité, santé, productivité / audit the sources.

    Diversity (type, language, country, online/offline, per theme, per competitor), legitimacy (grade, notes,
    robots.txt, paywall), health (success rate over 30 days, backoff, last error), productivity (items per week,
    share that reached a digest), then recommendations.

    \b
    Exemples / examples:
      veille sources audit
      veille sources audit --format json | jq '.recommendations[].message'
      veille sources audit --format csv > audit.csv
    """
    from watch.audit import audit_sources
    from watch.cli_support import handle_errors
    from watch.i18n import user_language

    @handle_errors
    def run() -> None:
        config = obj.config
        with obj.store() as store:
            report = audit_sources(config, store, lang=user_language())
        if fmt == "json":
            click.echo(json.dumps(report.as_json(), ensure_ascii=False, indent=2, default=str))
            return
        if fmt == "csv":
            emit(report.sources, "csv")
            return
        rows = [{"id": row["id"], "type": row["type"], "lang": row["language"], "grade": row["reliability"],
                 "status": row["status"], "ok_30d": "" if row["success_rate"] is None else f"{row['success_rate']:.0%}",
                 "per_week": row["items_per_week"], "last_item": (row["last_item"] or "")[:10],
                 "digest": "" if row["digest_share"] is None else f"{row['digest_share']:.0%}",
                 "findings": ", ".join(row["findings"])} for row in report.sources]
        if not rows:
            click.echo(tx("No source declared."))
        else:
            emit(rows, "table", title=tx("Sources"))
        emit([{"dimension": key, "breakdown": ", ".join(f"{k} {v}" for k, v in values.items())}
              for key, values in report.diversity.items() if key not in ("themes", "competitors")],
             "table", title=tx("Diversity"))
        if report.diversity["themes"]:
            emit([{"theme": theme, "sources": len(c["sources"]), "types": ", ".join(c["types"]),
                   "languages": ", ".join(c["languages"]), "online/offline": ", ".join(c["online"])}
                  for theme, c in report.diversity["themes"].items()], "table", title=tx("Per theme"))
        if report.diversity["competitors"]:
            emit([{"competitor": competitor, "own sources": ", ".join(c["own_sources"]),
                   "mentioned by": ", ".join(c["mentioned_by"]), "items": c["items"]}
                  for competitor, c in report.diversity["competitors"].items()],
                 "table", title=tx("Per competitor (28 d)"))
        emit([{"severity": f.severity, "point": f.point, "recommendation": f.message, "how": f.hint}
              for f in report.findings], "table", title=tx("Recommendations"))

    run()
