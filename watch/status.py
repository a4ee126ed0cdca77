"""What `veille status` tells an operator: is the scheduler up, what runs next, what failed and why.

Read from the database and the lock file only, so it works the same whether `veille run` is up or not; when it is
not, next runs are those a scheduler started now would use (overdue jobs: now).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from watch.config import Config
from watch.models import utcnow
from watch.schedule import plan_jobs
from watch.scheduler import lock_holder
from watch.store import Store


@dataclass
class Status:
    scheduler: dict[str, Any] | None          # pid, host, since, config of the running `veille run`, or None
    jobs: list[dict[str, Any]] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    digests: list[dict[str, Any]] = field(default_factory=list)

    @property
    def attention(self) -> bool:
        """Something an operator should look at: a failing source, a failed job, a delivery that failed or whose
        outcome is uncertain (the server may have received it)."""
        return (any(s["status"] in ("failing", "gone") for s in self.sources)
                or any(j["outcome"] == "error" for j in self.jobs)
                or any(d.get("failed") or d.get("uncertain") or d.get("status") == "failed" for d in self.digests))


def scheduler_status(config: Config, store: Store, now: datetime | None = None) -> Status:
    now = now or utcnow()
    holder = lock_holder(store.path)
    recorded = {row["job"]: row for row in store.job_runs(active_only=False)}
    status = Status(holder)
    for spec in plan_jobs(config):
        row = recorded.get(spec.id) or {}
        last_success = datetime.fromisoformat(row["last_success_at"]) if row.get("last_success_at") else None
        if holder and row.get("active") and row.get("next_run_at"):
            next_run = datetime.fromisoformat(row["next_run_at"])
        else:
            next_run = spec.first_run(last_success, now)
        status.jobs.append({
            "job": spec.id, "kind": spec.kind, "target": spec.target, "schedule": spec.description,
            "next_run": next_run.isoformat() if next_run else None, "last_run": row.get("last_run_at"),
            "outcome": row.get("last_outcome"), "duration_ms": row.get("last_duration_ms"),
            "counts": row.get("last_counts") or {}, "last_success": row.get("last_success_at"),
            "failures": row.get("failures") or 0, "runs": row.get("runs") or 0, "errors": row.get("errors") or 0,
            "error": row.get("last_error")})
    state = {row["id"]: row for row in store.sources_overview()}
    for source in config.sources:
        row = state.get(source.id, {})
        backoff = row.get("next_attempt_at") if row.get("status") == "failing" else None
        status.sources.append({
            "source": source.id, "kind": source.kind, "status": row.get("status") or "new",
            "last_fetch": row.get("last_fetch_at"), "last_success": row.get("last_success_at"),
            "http": row.get("last_status"), "failures": row.get("failures") or 0,
            "backoff_until": backoff if backoff and backoff > now.isoformat() else None,
            "error": row.get("last_error"), "warning": row.get("warning"), "items": row.get("items") or 0})
    last = {row["audience"]: row for row in store.digest_overview()}
    jobs = {job["job"]: job for job in status.jobs}
    for audience in config.audiences:
        job = jobs.get(f"digest:{audience.id}") or {}
        row = last.get(audience.id) or {"audience": audience.id}
        status.digests.append({
            "audience": audience.id, "schedule": job.get("schedule"), "next_run": job.get("next_run"),
            "period": row.get("period"), "status": row.get("status"), "items": row.get("items"),
            "sent_at": row.get("sent_at"), "sent": row.get("sent") or 0, "pending": row.get("pending") or 0,
            "failed": row.get("failed") or 0, "uncertain": row.get("uncertain") or 0,
            "held_until": row.get("held_until"), "attempts": row.get("attempts") or 0, "error": row.get("last_error")})
    return status
