"""Merge one product's per-frame hits into time segments (the tag JSON's ``segments``; not an
index's storage segments, ``indexing.segments``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from shoptag.boxes import Box
from shoptag.tagging.results import EMBEDDING, Segment


@dataclass(frozen=True)
class Hit:
    time_s: float
    score: float
    box: Box
    evidence: str = EMBEDDING
    # For a geometric hit: the frame's points its inliers are (see ``alternatives``).
    keypoints: frozenset[tuple[int, int]] | None = field(default=None, compare=False, repr=False)
    # Seen by a look alone where nothing else could judge the product (``decision``): asked, never told.
    question: bool = field(default=False, kw_only=True)


def build_segments(
    hits: list[Hit], step_s: float, duration_s: float, max_gap_s: float, min_hits: int,
    min_embedding_hits: int = 1,
) -> list[Segment]:
    """Group hits whose unobserved stretch between them is at most ``max_gap_s``; drop groups
    with fewer than ``min_hits`` hits (one-frame flickers). A segment is uncertain when none of
    its hits reaches 0.5 (the bar), when all are embedding hits and it has fewer than
    ``min_embedding_hits`` (a look seen in consecutive frames is stronger evidence), or when
    all are questions (a look alone, where nothing else could judge the product).

    Each hit stands for the half sampling step on either side of it, so a segment spans from
    half a step before its first hit to half a step after its last: with a product visible
    over [a, b], the error on each end is at most half a step.
    """
    groups: list[list[Hit]] = []
    for hit in sorted(hits, key=lambda h: h.time_s):
        if groups and hit.time_s - groups[-1][-1].time_s - step_s <= max_gap_s + 1e-6:
            groups[-1].append(hit)
        else:
            groups.append([hit])
    segments = []
    for group in groups:
        if len(group) < min_hits:
            continue
        best = max(group, key=lambda h: h.score)
        matched = any(h.evidence != EMBEDDING for h in group)  # the photo itself was found in the frame
        segments.append(Segment(
            start_s=max(0.0, group[0].time_s - step_s / 2),
            end_s=min(duration_s, group[-1].time_s + step_s / 2),
            score=best.score,
            best_frame_s=best.time_s,
            bbox=best.box,
            track=[(hit.time_s, *hit.box) for hit in group],
            hits=len(group),
            evidence=best.evidence,
            uncertain=(best.score < 0.5 or (not matched and len(group) < min_embedding_hits)
                       or all(hit.question for hit in group)),
        ))
    return segments
