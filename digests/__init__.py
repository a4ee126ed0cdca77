"""The digest stage: a tailored brief for each audience, e-mailed, archived, never sent twice.

    from digests import run_digests, run_alerts

    report = run_digests(config, store)           # build this period's digests, deliver what is pending
    for result in report.results:
        print(result.audience, result.status, result.items, result.error)
"""

from __future__ import annotations

from digests.alerts import run_alerts
from digests.stage import AudienceResult, DigestReport, Preview, preview_digest, run_digests

__all__ = ["AudienceResult", "DigestReport", "Preview", "preview_digest", "run_alerts", "run_digests"]
