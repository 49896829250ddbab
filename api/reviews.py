"""A creator's review of a job's suggestions: which tags they accepted (with the segments as
they left them), rejected, or added. Kept in the job database with the key that made each
decision and when, so that accuracy can be measured on real creator decisions
(``shoptag feedback export`` writes them as annotations).

A review is replaced whole. Each save names the revision it was built from and is refused
(409) when another save came in between, so an acknowledged review is never lost to a
concurrent one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shoptag.api.jobs import Job, JobStore, job_from_row
from shoptag.errors import ConfigError, JobNotFinishedError, ReviewConflictError

MAX_DECISIONS = 500
MAX_SEGMENTS = 50
# Times a creator marks on the page may round past the decoded duration by a frame or so.
_END_SLACK_S = 0.5
MIN_SEGMENT_S = 0.01


class _Strict(BaseModel):
    # strict: true, false and "0" are not numbers.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ReviewSegment(_Strict):
    start_s: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    end_s: Annotated[float, Field(gt=0, allow_inf_nan=False)]

    @model_validator(mode="after")
    def _ordered(self) -> ReviewSegment:
        if self.end_s - self.start_s < MIN_SEGMENT_S:
            raise ValueError(f"a segment must end after it starts ({self.start_s} .. {self.end_s})")
        return self


class Decision(_Strict):
    product_id: Annotated[str, Field(min_length=1, max_length=200)]
    verdict: Literal["accepted", "rejected", "added"] = Field(
        description="accepted: a suggestion kept, with its segments as the creator left them; rejected: a "
        "suggestion refused (no segments); added: a catalog product the tagger missed, with where it is seen.")
    segments: list[ReviewSegment] = Field([], max_length=MAX_SEGMENTS)

    @model_validator(mode="after")
    def _segments_fit_verdict(self) -> Decision:
        if self.verdict == "rejected" and self.segments:
            raise ValueError(f"{self.product_id!r} is rejected: it has no segments")
        if self.verdict != "rejected" and not self.segments:
            raise ValueError(f"{self.product_id!r} is {self.verdict}: it needs at least one segment")
        return self


class ReviewIn(_Strict):
    revision: int = Field(ge=0, description="The revision this review was built from (0: none saved yet).")
    decisions: list[Decision] = Field(max_length=MAX_DECISIONS)


class StoredDecision(Decision):
    decided_by: str = Field(description="The API key (its non-secret id) that made the decision.")
    decided_at: str = Field(description="When this decision was last changed (UTC).")


class ReviewOut(BaseModel):
    job_id: str
    revision: int = Field(description="0 while nothing has been saved.")
    updated: str | None
    decisions: list[StoredDecision]


@dataclass(frozen=True)
class ReviewedJob:
    job: Job
    review: ReviewOut


def check_decisions(review: ReviewIn, job: Job, in_catalog: Callable[[str], bool],
                    stored: ReviewOut | None = None) -> None:
    """Refuse decisions that do not fit the job: a review of a job without result, a product
    decided twice, an accepted or rejected product that was not suggested, an added one that
    was suggested or (unless ``stored`` has it as it is) is not in the catalog, a segment that
    starts or ends past the video's end. A product added earlier and removed from the catalog
    since stays as it was saved, so the rest of the review can still be changed."""
    if job.status != "succeeded" or job.result is None:
        raise JobNotFinishedError(f"job {job.id!r} is {job.status}: only a finished job's tags can be reviewed")
    saved = {d.product_id: Decision.model_validate(d.model_dump(exclude={"decided_by", "decided_at"}))
             for d in (stored.decisions if stored else ())}
    suggested = {tag["product_id"] for tag in job.result["tags"]}
    duration_s = float(job.result["duration_s"])
    seen: set[str] = set()
    for decision in review.decisions:
        product = decision.product_id
        if product in seen:
            raise ConfigError(f"product {product!r} is decided twice")
        seen.add(product)
        if decision.verdict == "added":
            if product in suggested:
                raise ConfigError(f"product {product!r} was suggested: accept it instead of adding it")
            if saved.get(product) != decision and not in_catalog(product):
                raise ConfigError(f"product {product!r} is not in the catalog")
        elif product not in suggested:
            raise ConfigError(f"product {product!r} was not suggested for this video: add it instead")
        late = [s for s in decision.segments if s.end_s > duration_s + _END_SLACK_S or s.start_s >= duration_s]
        if late:
            raise ConfigError(f"a segment of {product!r} ({late[0].start_s} .. {late[0].end_s} s) lies past the "
                              f"video's end ({duration_s:.3f} s)")


class ReviewStore:
    """Reviews in the job database (``JobStore``); any thread may use it."""

    def __init__(self, jobs: JobStore) -> None:
        self._jobs = jobs

    def get(self, job: Job) -> ReviewOut:
        with self._jobs.connect() as db:
            row = db.execute("SELECT * FROM reviews WHERE job_id = ?", (job.id,)).fetchone()
        return _review(job.id, row)

    def save(self, job: Job, review: ReviewIn, owner: str) -> ReviewOut:
        """Store ``review`` as the next revision if the stored one is still ``review.revision``.
        A decision that did not change keeps who made it and when."""
        now = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        with self._jobs.connect() as db:
            db.execute("BEGIN IMMEDIATE")  # the revision read and the write are one step
            try:
                row = db.execute("SELECT * FROM reviews WHERE job_id = ?", (job.id,)).fetchone()
                stored = _review(job.id, row)
                if stored.revision != review.revision:
                    raise ReviewConflictError(
                        f"the review of job {job.id!r} was saved meanwhile (revision {stored.revision}, this one "
                        f"was built from {review.revision}): load it again")
                before = {d.product_id: d for d in stored.decisions}
                decisions = [_stamped(decision, before.get(decision.product_id), owner, now)
                             for decision in review.decisions]
                payload = json.dumps([d.model_dump() for d in decisions])
                db.execute("INSERT INTO reviews (job_id, owner, revision, decisions, updated) VALUES (?, ?, ?, ?, ?)"
                           " ON CONFLICT (job_id) DO UPDATE SET revision = excluded.revision,"
                           " decisions = excluded.decisions, updated = excluded.updated",
                           (job.id, job.owner, review.revision + 1, payload, now))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return ReviewOut(job_id=job.id, revision=review.revision + 1, updated=now, decisions=decisions)

    def reviewed(self) -> list[ReviewedJob]:
        """Every saved review with its job, oldest job first."""
        with self._jobs.connect() as db:
            rows = db.execute(
                "SELECT jobs.*, reviews.revision AS review_revision, reviews.decisions AS review_decisions,"
                " reviews.updated AS review_updated FROM reviews JOIN jobs ON jobs.id = reviews.job_id"
                " ORDER BY jobs.created, jobs.rowid").fetchall()
        return [ReviewedJob(job_from_row(row), ReviewOut(
            job_id=row["id"], revision=row["review_revision"], updated=row["review_updated"],
            decisions=json.loads(row["review_decisions"]))) for row in rows]


def _stamped(decision: Decision, before: StoredDecision | None, owner: str, now: str) -> StoredDecision:
    unchanged = before is not None and Decision.model_validate(before.model_dump(
        exclude={"decided_by", "decided_at"})) == decision
    return StoredDecision(**decision.model_dump(), decided_by=before.decided_by if unchanged else owner,
                          decided_at=before.decided_at if unchanged else now)


def _review(job_id: str, row) -> ReviewOut:
    if row is None:
        return ReviewOut(job_id=job_id, revision=0, updated=None, decisions=[])
    return ReviewOut(job_id=job_id, revision=row["revision"], updated=row["updated"],
                     decisions=json.loads(row["decisions"]))

