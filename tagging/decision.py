"""The one rule that makes a frame's evidence for a product a hit, or not: a pure function of
what the scan recorded (``Evidence``), what the product is (``Traits``) and the margins in use
(``HitRules``, every one a tagging setting). The scan only gathers evidence; a faster scan
changes which evidence exists, never this rule.

A hit is, in order:
1. an **aligned** textureless product (its photo's detail correlates with the frame's at
   ``min_alignment``, less ``track_alignment_slack`` near a confirmed frame, and the aligned box
   looks like the product to the model): scored by its correlation over ``min_alignment``;
2. a **verified** product (at least ``min_inliers`` RANSAC inliers): scored
   ``inliers / (inliers + min_inliers)``;
3. otherwise, with geometry available, nothing for a **textured** product (geometry could
   judge it and did not confirm it: a look-alike), and nothing for an **alignable** one whose
   photo did not align even ``support_alignment_slack`` under the bar, away from a confirmed
   frame; the rest need ``verify_floor`` near a confirmed frame, else threshold +
   ``fallback_margin``;
4. an **embedding** similarity (title-blended) that reaches the product's bar: that base, or its
   background score + ``background_margin`` where higher. Scored 0.5 at the bar, 1 at identical
   vectors; one that reaches only the threshold is an uncertain hit, kept on request. With
   geometry available, the hit of a product that neither geometry nor alignment can judge is a
   **question** unless ``look_alone_tags``: its segments are uncertain, suggested only on request.
"""

from __future__ import annotations

from dataclasses import dataclass

from shoptag.boxes import Box
from shoptag.settings import TaggingSettings
from shoptag.tagging.photometric import Alignment
from shoptag.tagging.results import ALIGNMENT, GEOMETRY
from shoptag.tagging.time_segments import Hit
from shoptag.tagging.verify import Verification


def verified_confidence(inliers: int, min_inliers: int) -> float:
    """A verified hit's score: inliers / (inliers + min_inliers), so 0.5 at the inlier bar and
    rising slowly with more geometric evidence (24 -> 0.67, 48 -> 0.80, 200 -> 0.94). Unlike an
    embedding similarity, whose range differs per product and per model, it means the same for
    every product."""
    return inliers / (inliers + min_inliers)


def embedding_confidence(similarity: float, bar: float) -> float:
    """An embedding hit's score: 0.5 at the product's bar and 1 at identical embeddings, linear
    between (below 0.5: under the bar, an uncertain hit), so it reads like ``verified_confidence``
    whatever the product's bar. An aligned hit's correlation is scored the same way."""
    return 0.5 + 0.5 * (similarity - bar) / max(1.0 - bar, 1e-6)


def tracking_horizon_s(settings: TaggingSettings) -> float:
    """How far from a confirmed frame a product is still being followed: ``max_gap_s`` of
    unobserved time plus one sampling step (the scan tracks and looks back this far; the
    decision counts frames this near as continuing a track)."""
    return settings.max_gap_s + 1.0 / settings.fps + 1e-6


@dataclass(frozen=True)
class HitRules:
    """The margins the decision uses, from the tagging settings and the thresholds in use."""

    threshold: float  # the embedding threshold
    aligned_similarity: float  # what an aligned box's crop needs to its product's photo
    verifying: bool  # geometry is available (verification on, and the index has features)
    min_inliers: int
    min_alignment: float
    track_alignment_slack: float
    support_alignment_slack: float
    verify_floor: float
    fallback_margin: float
    background_margin: float
    text_weight: float
    look_alone_tags: bool
    include_uncertain: bool

    @classmethod
    def of(cls, settings: TaggingSettings, threshold: float, aligned_similarity: float, verifying: bool) -> HitRules:
        return cls(threshold, aligned_similarity, verifying, settings.min_inliers, settings.min_alignment,
                   settings.track_alignment_slack, settings.support_alignment_slack, settings.verify_floor,
                   settings.fallback_margin, settings.background_margin, settings.text_weight,
                   settings.look_alone_tags, settings.include_uncertain)


@dataclass(frozen=True)
class Traits:
    """What a product is, whatever the frame."""

    textured: bool  # geometry can judge it (enough SIFT points in one of its photos)
    alignable: bool  # photometric alignment can judge it (a template with detail)
    background: float | None  # its highest similarity to product-free footage; None without a bank


@dataclass(frozen=True)
class Evidence:
    """What the scan recorded of one product in one frame."""

    time_s: float
    similarity: float  # best region similarity (0 where no region ranked it)
    region: Box | None  # the region of that similarity
    title_similarity: float | None = None  # best region-title similarity, for models with a text tower
    verification: Verification | None = None
    alignment: Alignment | None = None
    near_confirmed: bool = False  # within the tracking horizon of a frame where it was verified or aligned


def is_verified(verification: Verification | None, rules: HitRules) -> bool:
    return verification is not None and verification.inliers >= rules.min_inliers


def is_aligned(alignment: Alignment | None, rules: HitRules, near: bool = False) -> bool:
    """Is an alignment an aligned hit: the photo's detail correlates with the frame's (a little
    less is enough near a confirmed frame: ``near``), and the aligned box looks like the product?"""
    if alignment is None:
        return False
    bar = rules.min_alignment - (rules.track_alignment_slack if near else 0.0)
    return (alignment.correlation >= bar and alignment.similarity is not None
            and alignment.similarity >= rules.aligned_similarity)


def worth_a_look(alignment: Alignment, rules: HitRules) -> bool:
    """Could the alignment be an aligned hit somewhere (near a confirmed frame): its box's crop
    is then embedded, for ``is_aligned`` to judge."""
    return alignment.correlation >= rules.min_alignment - rules.track_alignment_slack


def embedding_bar(base: float, background: float | None, rules: HitRules) -> float:
    """What a product seen by its embedding alone must reach: ``base``, or its background score
    plus ``background_margin`` where that is higher, so products that resemble everything need more."""
    return base if background is None else max(base, background + rules.background_margin)


def decide(evidence: Evidence, traits: Traits, rules: HitRules) -> Hit | None:
    """The hit this evidence makes, or None (see the module's docstring for the rule)."""
    near = evidence.near_confirmed
    alignment = evidence.alignment
    if is_aligned(alignment, rules, near):
        return Hit(evidence.time_s, embedding_confidence(alignment.correlation, rules.min_alignment), alignment.box,
                   ALIGNMENT)
    base = rules.threshold
    if rules.verifying:
        check = evidence.verification
        if is_verified(check, rules):
            return Hit(evidence.time_s, verified_confidence(check.inliers, rules.min_inliers), check.box, GEOMETRY,
                       check.keypoints)
        if traits.textured:
            return None
        supported = (alignment is not None
                     and alignment.correlation >= rules.min_alignment - rules.support_alignment_slack)
        if not near and traits.alignable and not supported:
            return None  # its photo would align where it really is
        base = rules.verify_floor if near else base + rules.fallback_margin
    score = evidence.similarity
    if evidence.title_similarity is not None:
        score = (1 - rules.text_weight) * score + rules.text_weight * evidence.title_similarity
    bar = embedding_bar(base, traits.background, rules)
    if score >= bar or (rules.include_uncertain and score >= rules.threshold):
        question = rules.verifying and not (traits.textured or traits.alignable) and not rules.look_alone_tags
        return Hit(evidence.time_s, embedding_confidence(score, bar), evidence.region, question=question)
    return None
