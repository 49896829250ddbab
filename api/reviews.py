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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shoptag.api.jobs import Job, JobStore, job_from_row
from shoptag.errors import InvalidRequestError, JobNotFinishedError, ReviewConflictError
from shoptag.settings import CATALOG_NAME_PATTERN

MAX_DECISIONS = 500
MAX_SEGMENTS = 50
# Times a creator marks on the page may round past the decoded duration by a frame or so.
_END_SLACK_S = 0.5
MIN_SEGMENT_S = 0.01


class _Strict(BaseModel):
    # strict: true, false and "0" are not numbers.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class PlacedBox(_Strict):
    """Where a creator placed a product on the frame: a box in the video's pixels at ``time_s``."""

    time_s: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    x: Annotated[int, Field(ge=0)]
    y: Annotated[int, Field(ge=0)]
    w: Annotated[int, Field(ge=1)]
    h: Annotated[int, Field(ge=1)]


class ReviewSegment(_Strict):
    start_s: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    end_s: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    box: PlacedBox | None = Field(None, description="Where the creator placed the product (an added one, or a "
                                  "box corrected), inside the segment and the frame.")

    @model_validator(mode="after")
    def _ordered(self) -> ReviewSegment:
        if self.end_s - self.start_s < MIN_SEGMENT_S:
            raise ValueError(f"a segment must end after it starts ({self.start_s} .. {self.end_s})")
        if self.box is not None and not self.start_s <= self.box.time_s <= self.end_s:
            raise ValueError(f"a box at {self.box.time_s} s lies outside its segment ({self.start_s} .. {self.end_s})")
        return self


class Decision(_Strict):
    product_id: Annotated[str, Field(min_length=1, max_length=200)]
    catalog: Annotated[str, Field(pattern=CATALOG_NAME_PATTERN)] | None = Field(
        None, description="The product's catalog, as its tag names it; may be left out when the job searched one.")
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


def check_decisions(review: ReviewIn, job: Job, catalogs: Sequence[str], in_catalog: Callable[[str, str], bool],
                    stored: ReviewOut | None = None) -> ReviewIn:
    """``review`` with each decision's catalog filled in where the job searched one
    (``catalogs``), or refused where it does not fit the job: a review of a job without result,
    a product decided twice, an accepted or rejected product that was not suggested, an added
    one that was suggested or (unless ``stored`` has it as it is) is not in its catalog
    (``in_catalog(product, catalog)``), a catalog the job did not search, a segment that starts
    or ends past the video's end. A product added earlier and removed from the catalog since
    stays as it was saved, so the rest of the review can still be changed."""
    if job.status != "succeeded" or job.result is None:
        raise JobNotFinishedError(f"job {job.id!r} is {job.status}: only a finished job's tags can be reviewed")
    saved = {decision_key(d): Decision.model_validate(d.model_dump(exclude={"decided_by", "decided_at"}))
             for d in (stored.decisions if stored else ())}
    suggested = suggestion_keys(job, catalogs)
    duration_s = float(job.result["duration_s"])
    seen: set[tuple[str | None, str]] = set()
    decisions = []
    for decision in review.decisions:
        decision = decision.model_copy(update={"catalog": _catalog(decision, catalogs)})
        key, product = decision_key(decision), decision.product_id
        if key in seen:
            raise InvalidRequestError(f"product {product!r} is decided twice")
        seen.add(key)
        if decision.verdict == "added":
            if key in suggested:
                raise InvalidRequestError(f"product {product!r} was suggested: accept it instead of adding it")
            if saved.get(key) != decision and not in_catalog(product, decision.catalog):
                raise InvalidRequestError(f"product {product!r} is not in the catalog")
        elif key not in suggested:
            raise InvalidRequestError(f"product {product!r} was not suggested for this video: add it instead")
        late = [s for s in decision.segments if s.end_s > duration_s + _END_SLACK_S or s.start_s >= duration_s]
        if late:
            raise InvalidRequestError(f"a segment of {product!r} ({late[0].start_s} .. {late[0].end_s} s) lies past "
                                      f"the video's end ({duration_s:.3f} s)")
        width, height = int(job.result["width"]), int(job.result["height"])
        outside = [s.box for s in decision.segments
                   if s.box is not None and (s.box.x + s.box.w > width or s.box.y + s.box.h > height)]
        if outside:
            raise InvalidRequestError(f"the box of {product!r} at {outside[0].time_s} s lies outside the "
                                      f"{width}x{height} frame")
        decisions.append(decision)
    return review.model_copy(update={"decisions": decisions})


def decision_key(decision: Decision) -> tuple[str | None, str]:
    """What a decision is about: a product of a catalog (ids may repeat across catalogs)."""
    return decision.catalog, decision.product_id


def suggestion_keys(job: Job, catalogs: Sequence[str]) -> set[tuple[str | None, str]]:
    """The (catalog, product) of each of the job's tags, which searched ``catalogs``; a tag
    stored before tags named their catalog is of the job's one catalog."""
    only = catalogs[0] if len(catalogs) == 1 else None
    return {(tag.get("catalog") or only, tag["product_id"]) for tag in (job.result or {}).get("tags", [])}


def _catalog(decision: Decision, catalogs: Sequence[str]) -> str:
    """The decision's catalog: one the job searched, left out only where it searched one."""
    if decision.catalog is None:
        if len(catalogs) > 1:
            raise InvalidRequestError(
                f"name the catalog of {decision.product_id!r}: this job searched {', '.join(catalogs)}")
        return catalogs[0]
    if decision.catalog not in catalogs:
        raise InvalidRequestError(
            f"product {decision.product_id!r}: this job did not search catalog {decision.catalog!r}")
    return decision.catalog


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
                before = {decision_key(d): d for d in stored.decisions}
                decisions = [_stamped(decision, before.get(decision_key(decision)), owner, now)
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

