"""The one rule that makes a frame's evidence a hit (``tagging.decision``), case by case, with no
model: each row is evidence, what the product is, and the hit it must make (or none)."""

import pytest

from shoptag.settings import TaggingSettings
from shoptag.tagging.decision import (
    Evidence,
    HitRules,
    Traits,
    decide,
    embedding_confidence,
    is_aligned,
    tracking_horizon_s,
    verified_confidence,
    worth_a_look,
)
from shoptag.tagging.photometric import Alignment
from shoptag.tagging.results import ALIGNMENT, EMBEDDING, GEOMETRY
from shoptag.tagging.verify import Verification

SETTINGS = TaggingSettings()  # min_inliers 12, min_alignment 0.8, slacks 0.1 / 0.3, verify_floor 0.3, margins 0.05
RULES = HitRules.of(SETTINGS, threshold=0.54, aligned_similarity=0.4, verifying=True)
BOX, REGION, OUTLINE = (10, 10, 50, 50), (0, 0, 100, 100), (12, 14, 40, 44)

TEXTURED = Traits(textured=True, alignable=False, background=None)
FLAT = Traits(textured=False, alignable=False, background=None)
ALIGNABLE = Traits(textured=False, alignable=True, background=None)
LIKE_A_STREET = Traits(textured=False, alignable=False, background=0.70)  # its bar: 0.70 + 0.05


def seen(similarity=0.0, inliers=None, correlation=None, crop=0.6, near=False, title=None) -> Evidence:
    return Evidence(
        time_s=1.5, similarity=similarity, region=REGION, title_similarity=title,
        verification=None if inliers is None else Verification(inliers, BOX, frozenset({1, 2})),
        alignment=None if correlation is None else Alignment(correlation, OUTLINE, crop), near_confirmed=near)


CASES = [
    # (why, evidence, traits, expected (evidence kind, score, box) or None)
    ("verified at the bar", seen(0.2, inliers=12), TEXTURED, (GEOMETRY, 0.5, BOX)),
    ("verified beyond it", seen(0.9, inliers=36), TEXTURED, (GEOMETRY, 0.75, BOX)),
    ("a look-alike geometry could judge and did not confirm", seen(0.95, inliers=11), TEXTURED, None),
    ("a look-alike with no geometry at all", seen(0.95), TEXTURED, None),
    ("aligned at the bar", seen(0.1, correlation=0.8), FLAT, (ALIGNMENT, 0.5, OUTLINE)),
    ("aligned, but its crop does not look like the product", seen(0.1, correlation=0.95, crop=0.3), FLAT, None),
    ("aligned under the bar, away from a track", seen(0.1, correlation=0.75), FLAT, None),
    ("aligned under the bar, continuing a track", seen(0.1, correlation=0.75, near=True), FLAT,
     (ALIGNMENT, embedding_confidence(0.75, 0.8), OUTLINE)),
    ("aligned before verified: alignment is checked first", seen(0.1, inliers=50, correlation=0.9), FLAT,
     (ALIGNMENT, 0.75, OUTLINE)),
    ("flat, seen by its embedding over threshold + fallback margin", seen(0.6), FLAT,
     (EMBEDDING, embedding_confidence(0.6, 0.59), REGION)),
    ("flat, under threshold + fallback margin", seen(0.58), FLAT, None),
    ("flat, near a track: the verify floor is enough", seen(0.31, near=True), FLAT,
     (EMBEDDING, embedding_confidence(0.31, 0.30), REGION)),
    ("alignable, seen by its embedding, its photo never aligned", seen(0.9), ALIGNABLE, None),
    ("alignable, its photo aligned weakly: support enough", seen(0.9, correlation=0.5), ALIGNABLE,
     (EMBEDDING, embedding_confidence(0.9, 0.59), REGION)),
    ("alignable, aligned too weakly to support", seen(0.9, correlation=0.49), ALIGNABLE, None),
    ("alignable, near a track: no support needed", seen(0.9, near=True), ALIGNABLE,
     (EMBEDDING, embedding_confidence(0.9, 0.30), REGION)),
    ("a product like any street needs its background score + margin", seen(0.74), LIKE_A_STREET, None),
    ("... and reaches it", seen(0.76), LIKE_A_STREET, (EMBEDDING, embedding_confidence(0.76, 0.75), REGION)),
    ("a title blended in: 0.8 x 0.5 + 0.2 x 1.0 = 0.6", seen(0.5, title=1.0), FLAT,
     (EMBEDDING, embedding_confidence(0.6, 0.59), REGION)),
]


@pytest.mark.parametrize(("why", "evidence", "traits", "expected"), CASES, ids=[case[0] for case in CASES])
def test_the_decision(why, evidence, traits, expected):
    hit = decide(evidence, traits, RULES)
    if expected is None:
        assert hit is None, why
        return
    kind, score, box = expected
    assert hit is not None, why
    assert (hit.evidence, hit.box, hit.time_s) == (kind, box, 1.5)
    assert hit.score == pytest.approx(score)


def test_without_geometry_the_embedding_bar_alone_decides():
    rules = HitRules.of(SETTINGS, threshold=0.54, aligned_similarity=0.4, verifying=False)
    hit = decide(seen(0.55), TEXTURED, rules)  # no features: a textured product cannot be judged otherwise
    assert hit is not None and hit.score == pytest.approx(embedding_confidence(0.55, 0.54))
    assert decide(seen(0.53), TEXTURED, rules) is None


def test_uncertain_hits_are_kept_only_on_request():
    uncertain = HitRules.of(SETTINGS.model_copy(update={"include_uncertain": True}), 0.54, 0.4, verifying=True)
    assert decide(seen(0.56), FLAT, RULES) is None
    hit = decide(seen(0.56), FLAT, uncertain)  # over the threshold, under threshold + margin: under 0.5
    assert hit is not None and hit.score < 0.5


def test_every_margin_is_a_setting():
    """Moving a setting moves the rule: nothing tuned is left outside TaggingSettings."""
    looser = HitRules.of(SETTINGS.model_copy(update={"support_alignment_slack": 0.5, "track_alignment_slack": 0.2,
                                                     "fallback_margin": 0.0, "min_inliers": 8}), 0.54, 0.4, True)
    assert decide(seen(0.9, correlation=0.35), ALIGNABLE, looser) is not None
    assert decide(seen(0.1, correlation=0.65, near=True), FLAT, looser) is not None
    assert decide(seen(0.55), FLAT, looser) is not None
    assert decide(seen(0.1, inliers=8), TEXTURED, looser).score == pytest.approx(verified_confidence(8, 8))
    assert worth_a_look(Alignment(0.65, OUTLINE), looser) and not worth_a_look(Alignment(0.65, OUTLINE), RULES)
    assert not is_aligned(None, RULES)
    assert tracking_horizon_s(SETTINGS) == pytest.approx(SETTINGS.max_gap_s + 1 / SETTINGS.fps, abs=1e-5)


QUESTION_CASES = [
    # (why, evidence, traits, a question?) with geometry available
    ("flat: nothing but its look can judge it", seen(0.6), FLAT, True),
    ("flat near a track: still only its look", seen(0.31, near=True), FLAT, True),
    ("alignable, its look supported by a weak alignment: alignment could judge it", seen(0.9, correlation=0.5),
     ALIGNABLE, False),
    ("like a street, over its background bar: still only its look", seen(0.76), LIKE_A_STREET, True),
]


@pytest.mark.parametrize(("why", "evidence", "traits", "question"), QUESTION_CASES,
                         ids=[case[0] for case in QUESTION_CASES])
def test_a_look_alone_is_a_question_unless_look_alone_tags(why, evidence, traits, question):
    hit = decide(evidence, traits, RULES)
    assert hit is not None and hit.question is question, why
    tags = HitRules.of(SETTINGS.model_copy(update={"look_alone_tags": True}), 0.54, 0.4, verifying=True)
    assert decide(evidence, traits, tags).question is False  # the same hit, told as a tag
    assert decide(evidence, traits, tags).score == hit.score


def test_without_geometry_a_look_is_all_there_is_and_stays_a_tag():
    rules = HitRules.of(SETTINGS, threshold=0.54, aligned_similarity=0.4, verifying=False)
    assert decide(seen(0.6), FLAT, rules).question is False
