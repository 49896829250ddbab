"""Creators' reviews as annotations (``evaluation.annotations``' format), so that ``shoptag
eval`` measures accuracy on real creator decisions: for every reviewed job whose video is still
kept and whose every suggestion the creator accepted or rejected, the appearances are its
accepted segments (as the creator left them) and added ones; a video whose suggestions were all
rejected and nothing added is product-free. Each appearance names its product's catalog (where
the job's tags did), so a product added from one catalog is not scored as another's of the same
id. A review that left a suggestion undecided is left out: the annotations would call that
product absent, and its tag a false one."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from shoptag.api.jobs import JOBS_DATABASE, JobStore
from shoptag.api.reviews import ReviewStore, decision_key, suggestion_keys
from shoptag.errors import ConfigError
from shoptag.files import write_atomically

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeedbackExport:
    videos: int
    appearances: int
    skipped: int  # reviewed jobs whose video is no longer kept
    undecided: int  # reviews that left a suggestion without a verdict


def export_feedback(state_dir: Path, out: Path) -> FeedbackExport:
    """Write every saved review in the service state folder ``state_dir`` to ``out``."""
    database = state_dir / JOBS_DATABASE
    if not database.is_file():
        raise ConfigError(f"no job database at {database}: pass the state folder of a service "
                          "(--state-dir, or --index for the default <index>.state)")
    videos, skipped, undecided = [], 0, 0
    for reviewed in ReviewStore(JobStore(database)).reviewed():
        job, review = reviewed.job, reviewed.review
        # A job from before jobs named their catalogs: its tags and early decisions name none.
        decided = {decision_key(d) if job.catalogs else (None, d.product_id) for d in review.decisions
                   if d.verdict != "added"}
        open_suggestions = suggestion_keys(job, job.catalogs or []) - decided
        if open_suggestions:
            logger.warning("job %s (%r): %d suggestion(s) without a verdict; its review is left out", job.id,
                           job.video_name, len(open_suggestions))
            undecided += 1
            continue
        if job.upload is None or not job.upload.is_file():
            logger.warning("job %s (%r): its video is no longer kept; its review is left out", job.id, job.video_name)
            skipped += 1
            continue
        # Each product with its catalog: ids repeat across catalogs, and `shoptag eval` scores an
        # appearance only for the catalog it names.
        # A box the creator placed is the appearance's one-row track (evaluation.annotations).
        appearances = [{"product_id": d.product_id, "start_s": round(s.start_s, 3), "end_s": round(s.end_s, 3),
                        **({"catalog": d.catalog} if d.catalog else {}),
                        **({"track": [[round(s.box.time_s, 3), s.box.x, s.box.y, s.box.w, s.box.h]]} if s.box else {})}
                       for d in review.decisions if d.verdict != "rejected" for s in d.segments]
        videos.append({
            "video": str(job.upload.resolve()), "appearances": sorted(appearances, key=lambda a: a["start_s"]),
            "job_id": job.id, "video_name": job.video_name, "reviewed": review.updated,
            "revision": review.revision, "model": (job.result or {}).get("model"),
            "index_version": ((job.result or {}).get("index") or {}).get("version"),
            "decisions": [d.model_dump() for d in review.decisions]})
    if not videos:
        raise ConfigError(f"no complete review with a kept video in {state_dir} (reviews whose video is gone: "
                          f"{skipped}; with undecided suggestions: {undecided})")
    write_atomically(out, lambda path: path.write_text(json.dumps({"videos": videos}, indent=2) + "\n"))
    return FeedbackExport(len(videos), sum(len(v["appearances"]) for v in videos), skipped, undecided)
