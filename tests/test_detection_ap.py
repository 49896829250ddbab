"""Temporal-detection AP against hand-computed cases (ActivityNet's algorithm: one-to-one
greedy matching by score, interpolated precision), and its bootstrap intervals."""

import json

import numpy as np
import pytest

from shoptag.evaluation.bootstrap import Bootstrap, intervals, paired_difference
from shoptag.evaluation.detection import MAP_TIOUS, DetectionMatches, interpolated_ap
from shoptag.evaluation.metrics import Interval
from shoptag.evaluation.scorecard import Scorecard, ScorecardError


def seg(product, start, end, score=1.0):
    return Interval(product, start, end, score)


def ap_at(matches, tiou, weights=None):
    return {product: float(ap[matches.column(tiou)]) for product, ap in matches.per_product(weights).items()}


def test_interpolated_ap_of_a_hand_ranked_list():
    # Ranked tp, fp, tp, tp with 5 positives: precision 1, 1/2, 2/3, 3/4; recall .2 .2 .4 .6.
    # Interpolated precision from the right: 1, 3/4, 3/4, 3/4 -> AP = .2*1 + .2*.75 + .2*.75.
    precision = np.array([[1.0], [0.5], [2 / 3], [0.75]])
    recall = np.array([[0.2], [0.2], [0.4], [0.6]])
    assert interpolated_ap(precision, recall)[0] == pytest.approx(0.2 + 0.15 + 0.15)


def test_ap_of_one_product_over_two_videos():
    truth_a = [seg("mug", 0, 10), seg("mug", 20, 30)]
    truth_b = [seg("mug", 5, 15)]
    # By score: 0.9 matches a's first (IoU 1), 0.8 duplicates it (fp: locked), 0.7 matches b's
    # (IoU 6/10: tp at 0.5, fp at 0.7), 0.6 misses everything (fp).
    predicted_a = [seg("mug", 0, 10, 0.9), seg("mug", 1, 10, 0.8), seg("mug", 40, 45, 0.6)]
    predicted_b = [seg("mug", 9, 15, 0.7)]
    matches = DetectionMatches([(truth_a, predicted_a), (truth_b, predicted_b)])
    # tIoU 0.5: tp fp tp fp, 3 positives: precision 1, .5, 2/3, .5; recall 1/3, 1/3, 2/3, 2/3;
    # interpolated (best precision at this recall or beyond): 1 up to 1/3, 2/3 up to 2/3.
    assert ap_at(matches, 0.5)["mug"] == pytest.approx(1 / 3 * 1 + 1 / 3 * 2 / 3)
    # tIoU 0.7: tp fp fp fp: AP = 1/3.
    assert ap_at(matches, 0.7)["mug"] == pytest.approx(1 / 3)


def test_a_higher_scored_false_positive_lowers_ap_and_a_lower_one_does_not():
    truth = [seg("mug", 0, 10)]
    early = DetectionMatches([(truth, [seg("mug", 50, 60, 0.9), seg("mug", 0, 10, 0.5)])])
    late = DetectionMatches([(truth, [seg("mug", 50, 60, 0.4), seg("mug", 0, 10, 0.5)])])
    assert ap_at(early, 0.5)["mug"] == pytest.approx(0.5)
    assert ap_at(late, 0.5)["mug"] == pytest.approx(1.0)


def test_the_freest_best_overlap_is_matched_and_a_locked_one_is_skipped():
    # Two truths; the top prediction overlaps both, the first more. The second prediction's best
    # is that locked one, so it takes the other (ActivityNet walks down the overlaps).
    truth = [seg("mug", 0, 10), seg("mug", 2, 12)]
    predicted = [seg("mug", 0, 10, 0.9), seg("mug", 0, 10, 0.8)]
    assert ap_at(DetectionMatches([(truth, predicted)]), 0.5)["mug"] == pytest.approx(1.0)


def test_map_averages_products_with_truth_and_ignores_products_without():
    truth = [seg("mug", 0, 10), seg("cap", 0, 10)]
    predicted = [seg("mug", 0, 10, 0.9), seg("hat", 0, 10, 0.95)]  # hat: no truth anywhere
    matches = DetectionMatches([(truth, predicted), ([], [seg("cap", 3, 9, 0.8)])])
    assert set(ap_at(matches, 0.5)) == {"mug", "cap"}
    assert ap_at(matches, 0.5) == {"mug": 1.0, "cap": 0.0}
    summary = matches.summary()
    assert summary["AP@tIoU0.5"] == pytest.approx(0.5)
    assert summary["mAP@tIoU0.5:0.95"] == pytest.approx(0.5)
    assert len(MAP_TIOUS) == 10 and MAP_TIOUS[0] == 0.5 and MAP_TIOUS[-1] == pytest.approx(0.95)


def test_map_over_tiou_thresholds_counts_each_threshold_a_prediction_passes():
    truth = [seg("mug", 0, 10)]
    matches = DetectionMatches([(truth, [seg("mug", 0, 8, 0.9)])])  # IoU 0.8
    passed = sum(1 for t in MAP_TIOUS if t <= 0.8)  # 0.5 ... 0.8: 7 of 10
    assert matches.summary()["mAP@tIoU0.5:0.95"] == pytest.approx(passed / 10)


def test_a_video_drawn_twice_counts_twice():
    truth_a, predicted_a = [seg("mug", 0, 10)], [seg("mug", 0, 10, 0.5)]
    truth_b, predicted_b = [seg("mug", 0, 10)], [seg("mug", 30, 40, 0.9)]
    matches = DetectionMatches([(truth_a, predicted_a), (truth_b, predicted_b)])
    # Drawn a, a, b: fp (0.9), tp, tp (0.5, twice); 3 positives: precision 0, 1/2, 2/3 at
    # recall 0, 1/3, 2/3, interpolated to 2/3 for both steps: AP = 2 * 1/3 * 2/3.
    assert ap_at(matches, 0.5, np.array([2.0, 1.0]))["mug"] == pytest.approx(4 / 9)
    # The same as matching the three videos for real.
    tripled = DetectionMatches([(truth_a, predicted_a), (truth_a, predicted_a), (truth_b, predicted_b)])
    assert ap_at(tripled, 0.5)["mug"] == pytest.approx(4 / 9)
    assert ap_at(matches, 0.5, np.array([0.0, 1.0]))["mug"] == 0.0
    assert ap_at(matches, 0.5, np.array([1.0, 0.0]))["mug"] == 1.0


def test_bootstrap_intervals_are_seeded_and_contain_the_estimate():
    scores = np.array([0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0])

    def mean(weights):
        return {"mean": float(weights @ scores / weights.sum())}

    first, undefined = intervals(mean, len(scores), Bootstrap(resamples=500, seed=3))
    assert (first, undefined) == intervals(mean, len(scores), Bootstrap(resamples=500, seed=3))
    assert undefined == {}
    low, high = first["mean"]
    assert low < 5 / 8 < high and high - low > 0.3  # 8 videos: a wide interval


def test_paired_difference_separates_a_real_gain_from_noise():
    rng = np.random.default_rng(0)
    base = rng.random(40)

    def stat(values):
        return lambda w: {"score": float(w @ values / w.sum())}

    gained = paired_difference(stat(base + 0.1), stat(base), 40, Bootstrap(resamples=300))
    assert gained["score"]["difference"] == pytest.approx(0.1) and gained["score"]["outside_noise"]
    noisy = paired_difference(stat(base + rng.normal(0, 0.2, 40) - 0.0), stat(base), 40, Bootstrap(resamples=300))
    low, high = noisy["score"]["interval"]
    assert low < noisy["score"]["difference"] < high


def test_resamples_without_truth_have_no_ap_and_are_left_out_of_the_interval():
    matches = DetectionMatches([([seg("mug", 0, 10)], [seg("mug", 0, 10, 0.9)]), ([], [seg("mug", 0, 5, 0.8)])])
    assert np.isnan(matches.summary(np.array([0.0, 2.0]))["AP@tIoU0.5"])
    # Every resample holding the first video scores AP 1 (its tp outranks the other's fp); those
    # of the product-free video alone score nothing, rather than 0.
    found, undefined = intervals(matches.summary, 2, Bootstrap(resamples=200))
    assert found["AP@tIoU0.5"] == [1.0, 1.0]
    assert 20 < undefined["AP@tIoU0.5"] < 80  # about a quarter of the resamples drew the second video twice


def test_a_scorecard_survives_metrics_json_and_pairs_only_the_same_videos():
    card = Scorecard()
    card.add_video("a", [seg("mug", 0, 10)], [seg("mug", 0, 9, 0.8)], [seg("mug", 0, 9, 0.8), seg("cap", 1, 2, 0.3)],
                   [1, 2, None])
    card.add_video("b", [], [seg("cap", 0, 3, 0.9)], [seg("cap", 0, 3, 0.9)], [])
    again = Scorecard.from_json(json.loads(json.dumps(card.as_json())))
    assert again.headline() == pytest.approx(card.headline())
    assert card.headline()["frame_MRR"] == pytest.approx((1 + 1 / 2) / 3)
    same = again.compared_with(card, Bootstrap(resamples=50))
    assert same["AP@tIoU0.5"] == {"difference": 0.0, "interval": [0.0, 0.0], "outside_noise": False}
    other = Scorecard()
    other.add_video("c", [], [], [], [])
    with pytest.raises(ScorecardError, match="not on the same videos"):
        other.compared_with(card, Bootstrap(resamples=50))
    for broken in ({}, {**card.as_json(), "segments": [[1, 2]]}, {**card.as_json(), "video_ids": ["a"]}):
        with pytest.raises(ScorecardError):
            Scorecard.from_json(broken)
