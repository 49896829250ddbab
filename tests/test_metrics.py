"""The metrics against hand-computed cases, so that a reported number can be trusted."""

import pytest

from shoptag.evaluation.metrics import (
    Counts,
    Interval,
    box_iou,
    false_tags_per_minute,
    match_segments,
    pair_segments,
    ranked_ap,
    retrieval,
    temporal_iou,
    video_level,
)


def seg(product, start, end, score=1.0):
    return Interval(product, start, end, score)


def test_temporal_iou():
    assert temporal_iou(seg("a", 0, 10), seg("a", 0, 10)) == 1.0
    assert temporal_iou(seg("a", 0, 10), seg("a", 5, 15)) == pytest.approx(5 / 15)
    assert temporal_iou(seg("a", 0, 4), seg("a", 6, 9)) == 0.0
    assert temporal_iou(seg("a", 2, 4), seg("a", 0, 10)) == pytest.approx(0.2)


def test_exact_and_partial_overlap():
    truth = [seg("a", 0, 10)]
    assert match_segments(truth, [seg("a", 0, 10)], 0.5) == Counts(1, 0, 0)
    partial = [seg("a", 4, 12)]  # IoU 6/12 = 0.5
    assert match_segments(truth, partial, 0.5) == Counts(1, 0, 0)
    later = [seg("a", 5, 14)]  # IoU 5/14 = 0.357
    assert match_segments(truth, later, 0.3) == Counts(1, 0, 0)
    assert match_segments(truth, later, 0.5) == Counts(0, 1, 1)


def test_a_split_segment_counts_once_and_its_other_piece_is_a_false_positive():
    truth = [seg("a", 0, 10)]
    pieces = [seg("a", 0, 4.5, 0.9), seg("a", 5.5, 10, 0.8)]  # IoU 0.45 each
    assert match_segments(truth, pieces, 0.3) == Counts(1, 1, 0)
    assert match_segments(truth, pieces, 0.5) == Counts(0, 2, 1)


def test_duplicates_and_wrong_products():
    truth = [seg("a", 0, 10), seg("b", 0, 10)]
    predicted = [seg("a", 0, 10, 0.9), seg("a", 1, 10, 0.8), seg("c", 0, 10)]
    counts = match_segments(truth, predicted, 0.5)
    assert counts == Counts(1, 2, 1)
    assert (counts.precision, counts.recall) == (pytest.approx(1 / 3), 0.5)
    assert counts.f1 == pytest.approx(2 * (1 / 3) * 0.5 / (1 / 3 + 0.5))


def test_the_higher_scored_prediction_takes_the_truth():
    truth = [seg("a", 0, 10)]
    counts = match_segments(truth, [seg("a", 0, 6, 0.5), seg("a", 0, 10, 0.9)], 0.5)
    assert counts == Counts(1, 1, 0)


def test_empty_truth_and_empty_predictions():
    assert match_segments([], [], 0.5) == Counts(0, 0, 0)
    nothing = Counts(0, 0, 0)
    assert (nothing.precision, nothing.recall, nothing.f1) == (1.0, 1.0, 1.0)
    missed = match_segments([seg("a", 0, 5)], [], 0.5)
    assert (missed.precision, missed.recall, missed.f1) == (1.0, 0.0, 0.0)
    invented = match_segments([], [seg("a", 0, 5)], 0.5)
    assert (invented.precision, invented.recall, invented.f1) == (0.0, 1.0, 0.0)


def test_counts_add_up_across_videos():
    assert Counts(1, 2, 3) + Counts(4, 0, 1) == Counts(5, 2, 4)


def test_video_level():
    assert video_level(["a", "b"], ["a", "c", "a"]) == Counts(1, 1, 1)
    assert video_level([], ["x"]) == Counts(0, 1, 0)


def test_retrieval_reports_recall_at_k_and_mean_reciprocal_rank():
    result = retrieval([1, 2, None, 7])
    assert result.recall_at == {1: 0.25, 5: 0.5, 10: 0.75}
    assert result.mrr == pytest.approx((1 + 1 / 2 + 0 + 1 / 7) / 4)
    assert result.as_json()["MRR"] == 0.4107 and "mAP" not in result.as_json()
    assert retrieval([]).queries == 0


def test_ranked_ap_is_mean_precision_at_the_relevant_ranks():
    # Ranked: rel (1/1), not, rel (2/3), not; a third relevant item never ranked counts 0.
    scored = [(0.9, True), (0.8, False), (0.7, True), (0.6, False)]
    assert ranked_ap(scored, relevant=3) == pytest.approx((1 + 2 / 3) / 3)
    assert ranked_ap(list(reversed(scored)), relevant=2) == pytest.approx((1 + 2 / 3) / 2)
    assert ranked_ap([], relevant=2) == 0.0 and ranked_ap(scored, relevant=0) == 0.0


def test_box_iou():
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert box_iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    assert box_iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0


def test_pair_segments_names_which_truth_each_prediction_matched():
    truth = [seg("a", 0, 4), seg("a", 10, 14), seg("b", 0, 4)]
    predicted = [seg("a", 10, 13, score=0.9), seg("b", 1, 4, score=0.5), seg("a", 0, 1, score=0.8)]
    assert sorted(pair_segments(truth, predicted, 0.5)) == [(1, 0), (2, 1)]


def test_false_tags_per_minute():
    assert false_tags_per_minute(3, 90.0) == pytest.approx(2.0)
    assert false_tags_per_minute(0, 0.0) is None
