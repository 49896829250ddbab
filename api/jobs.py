"""Asynchronous tagging jobs, kept in SQLite so that they survive a restart.

A job is owned by the API key that created it and invisible to any other key. An
``Idempotency-Key`` makes a retried submission return the job it already created; reusing a
key for a different request is refused. Jobs that were running when the service stopped are
queued again at the next start (at-least-once). The same database holds each job's review
(``api.reviews``) and the queue of Shopify webhook events (``api.webhooks``).
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from shoptag.errors import ConfigError, IdempotencyConflictError, NotFoundError
from shoptag.tagging.results import TagResult

JOBS_DATABASE = "jobs.sqlite3"  # its name in the service's state folder
SCHEMA_VERSION = 3  # 2: reviews; 3: Shopify webhook events
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    idempotency_key TEXT,
    fingerprint TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    video_name TEXT NOT NULL,
    upload TEXT NOT NULL,
    params TEXT NOT NULL,
    result TEXT,
    error_code TEXT,
    error_message TEXT,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_by_idempotency_key
    ON jobs (owner, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, created);
CREATE TABLE IF NOT EXISTS reviews (
    job_id TEXT PRIMARY KEY REFERENCES jobs (id),
    owner TEXT NOT NULL,
    revision INTEGER NOT NULL CHECK (revision > 0),
    decisions TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id TEXT NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    shop TEXT NOT NULL,
    shopify_id TEXT NOT NULL,
    event_time TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'applied', 'skipped', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before TEXT NOT NULL DEFAULT '',
    outcome TEXT,
    received TEXT NOT NULL,
    finished TEXT
);
CREATE INDEX IF NOT EXISTS webhook_events_queued ON webhook_events (status, seq);
CREATE TABLE IF NOT EXISTS webhook_products (
    shopify_id TEXT PRIMARY KEY,
    handle TEXT,
    event_time TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Job:
    id: str
    owner: str
    status: str
    video_name: str
    upload: Path | None  # the stored video; None once it is no longer kept
    params: dict  # the tagging settings it changes, and the catalogs it searches (``catalogs``)
    created: str
    updated: str
    result: dict | None = None  # a TagResult's JSON, as stored (``schemas.JobOut`` reads it back)
    error_code: str | None = None
    error_message: str | None = None


    @property
    def catalogs(self) -> list[str] | None:
        """The catalogs searched; None for a job queued before they were named (its service's one)."""
        return self.params.get(CATALOGS_PARAM)

    @property
    def overrides(self) -> dict:
        """The tagging settings the job's request changed."""
        return {name: value for name, value in self.params.items() if name != CATALOGS_PARAM}


CATALOGS_PARAM = "catalogs"


def _now() -> str:
    return _ago(0)


def _ago(seconds: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(seconds=seconds)).isoformat(timespec="milliseconds")


class JobStore:
    """Each call opens its own connection, so the store can be used from any thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with self.connect() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise ConfigError(f"job database {path} has schema {version}; this ShopTag knows "
                                  f"{SCHEMA_VERSION}: use a newer ShopTag or another state folder")
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def connect(self, timeout_s: float = 30):
        with closing(sqlite3.connect(self.path, timeout=timeout_s, isolation_level=None)) as db:
            db.row_factory = sqlite3.Row
            yield db

    def create(self, owner: str, idempotency_key: str | None, fingerprint: str, video_name: str,
               upload: Path, params: dict) -> tuple[Job, bool]:
        """Queue a job; returns (job, created). With a known idempotency key, the job that key
        made before is returned (created=False) if the request is the same one."""
        job_id = uuid.uuid4().hex
        now = _now()
        with self.connect() as db:
            try:
                db.execute(
                    "INSERT INTO jobs (id, owner, idempotency_key, fingerprint, status, video_name,"
                    " upload, params, created, updated) VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?)",
                    (job_id, owner, idempotency_key, fingerprint, video_name, str(upload),
                     json.dumps(params), now, now))
                created = True
            except sqlite3.IntegrityError:
                existing, existing_fingerprint = self._by_key(db, owner, idempotency_key)
                if existing_fingerprint != fingerprint:
                    raise IdempotencyConflictError(
                        f"Idempotency-Key {idempotency_key!r} was already used for a different "
                        "request") from None
                return existing, False
            return self.get(job_id, owner, db), created

    def find(self, owner: str, idempotency_key: str) -> Job | None:
        """The job this owner already created with this idempotency key, if any."""
        with self.connect() as db:
            return self._by_key(db, owner, idempotency_key)[0]

    @staticmethod
    def _by_key(db: sqlite3.Connection, owner: str, key: str) -> tuple[Job | None, str | None]:
        row = db.execute("SELECT * FROM jobs WHERE owner = ? AND idempotency_key = ?", (owner, key)).fetchone()
        return (job_from_row(row), row["fingerprint"]) if row else (None, None)

    def get(self, job_id: str, owner: str, db: sqlite3.Connection | None = None) -> Job:
        if db is None:
            with self.connect() as db:
                return self.get(job_id, owner, db)
        row = db.execute("SELECT * FROM jobs WHERE id = ? AND owner = ?", (job_id, owner)).fetchone()
        if row is None:
            raise NotFoundError(f"job {job_id!r} does not exist")
        return job_from_row(row)

    def claim_next(self) -> Job | None:
        """Mark the oldest queued job running and return it (None when the queue is empty)."""
        with self.connect() as db:
            row = db.execute(
                "UPDATE jobs SET status = 'running', updated = ? WHERE id = ("
                " SELECT id FROM jobs WHERE status = 'queued' ORDER BY created, rowid LIMIT 1)"
                " RETURNING *", (_now(),)).fetchone()
            return job_from_row(row) if row else None

    def succeed(self, job_id: str, result: TagResult) -> None:
        self._finish(job_id, "succeeded", result.model_dump_json(), None, None)

    def fail(self, job_id: str, code: str, message: str) -> None:
        self._finish(job_id, "failed", None, code, message)

    def _finish(self, job_id, status, result, code, message) -> None:
        with self.connect() as db:
            db.execute("UPDATE jobs SET status = ?, result = ?, error_code = ?, error_message = ?,"
                       " updated = ? WHERE id = ?", (status, result, code, message, _now(), job_id))

    def requeue_interrupted(self) -> int:
        """Jobs left 'running' by a stopped service go back to the queue."""
        with self.connect() as db:
            return db.execute("UPDATE jobs SET status = 'queued', updated = ? WHERE status = 'running'",
                              (_now(),)).rowcount

    def expire_uploads(self, keep_succeeded_s: float) -> list[Path]:
        """Forget the stored videos that no job needs any more (``video_kept`` says which are
        still needed). Returns them for the caller to delete."""
        # video_kept's rule, for the rows that still hold a video.
        expired = "upload != '' AND (status = 'failed' OR (status = 'succeeded' AND updated <= ?))"
        cutoff = (_ago(keep_succeeded_s),)
        with self.connect() as db:
            db.execute("BEGIN IMMEDIATE")  # RETURNING would give the new, empty value
            rows = db.execute(f"SELECT upload FROM jobs WHERE {expired}", cutoff).fetchall()
            db.execute(f"UPDATE jobs SET upload = '' WHERE {expired}", cutoff)
            db.execute("COMMIT")
        return [Path(row[0]) for row in rows]

    def kept_uploads(self) -> list[Path]:
        """The stored videos of succeeded jobs, newest first."""
        with self.connect() as db:
            rows = db.execute("SELECT upload FROM jobs WHERE status = 'succeeded' AND upload != ''"
                              " ORDER BY updated DESC, rowid DESC").fetchall()
        return [Path(row[0]) for row in rows]

    def forget_uploads(self, uploads: list[Path]) -> None:
        """These succeeded jobs' videos are no longer kept (the caller deletes them)."""
        with self.connect() as db:
            db.executemany("UPDATE jobs SET upload = '' WHERE upload = ? AND status = 'succeeded'",
                           [(str(upload),) for upload in uploads])

    def remove_unused_uploads(self, folder: Path, keep_succeeded_s: float) -> int:
        """Delete the stored videos in ``folder`` that no job needs (``expire_uploads``), and
        those of no job at all (a stop between a job's end and the removal of its video leaves
        one behind); returns how many. Only while no upload can arrive: at start-up."""
        self.expire_uploads(keep_succeeded_s)
        with self.connect() as db:
            needed = {Path(row[0]).name for row in db.execute("SELECT upload FROM jobs WHERE upload != ''")}
        unused = [entry for entry in folder.iterdir() if entry.name not in needed]
        for entry in unused:
            entry.unlink(missing_ok=True)
        return len(unused)

    def count(self, status: str, timeout_s: float = 30) -> int:
        with self.connect(timeout_s) as db:
            return db.execute("SELECT COUNT(*) FROM jobs WHERE status = ?", (status,)).fetchone()[0]


def video_kept(job: Job, keep_succeeded_s: float) -> bool:
    """Is the job's video still needed: a queued or running job's, and a succeeded job's for
    ``keep_succeeded_s`` after it finished (its creator reviews the tags on it, and exported
    reviews point at it)? A failed job's is not. ``JobStore.expire_uploads`` applies the same
    rule to the stored rows."""
    if job.upload is None or job.status == "failed":
        return False
    return job.status != "succeeded" or job.updated > _ago(keep_succeeded_s)


def job_from_row(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"], owner=row["owner"], status=row["status"], video_name=row["video_name"],
        upload=Path(row["upload"]) if row["upload"] else None, params=json.loads(row["params"]), created=row["created"],
        updated=row["updated"], result=json.loads(row["result"]) if row["result"] else None,
        error_code=row["error_code"], error_message=row["error_message"])
