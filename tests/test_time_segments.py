from shoptag.tagging import Hit, build_segments

BOX = (0, 0, 10, 10)


def hits(*times, score=0.7):
    return [Hit(t, score, BOX) for t in times]


def test_consecutive_hits_form_one_segment_padded_by_half_a_step():
    (segment,) = build_segments(hits(1.0, 1.5, 2.0, 2.5), 0.5, 10.0, max_gap_s=1.0, min_hits=2)
    assert (segment.start_s, segment.end_s, segment.hits) == (0.75, 2.75, 4)


def test_short_gap_merges_long_gap_splits():
    merged = build_segments(hits(1.0, 1.5, 3.0, 3.5), 0.5, 10.0, max_gap_s=1.0, min_hits=2)
    split = build_segments(hits(1.0, 1.5, 4.0, 4.5), 0.5, 10.0, max_gap_s=1.0, min_hits=2)
    assert len(merged) == 1 and len(split) == 2
    assert [s.start_s for s in split] == [0.75, 3.75]


def test_single_frame_flicker_is_dropped():
    segments = build_segments(hits(1.0) + hits(5.0, 5.5), 0.5, 10.0, max_gap_s=1.0, min_hits=2)
    assert [(s.start_s, s.end_s) for s in segments] == [(4.75, 5.75)]


def test_times_stay_inside_the_video_and_best_hit_gives_box():
    best = Hit(0.5, 0.9, (5, 6, 7, 8))
    (segment,) = build_segments([Hit(0.0, 0.6, BOX), best, Hit(1.0, 0.6, BOX)], 0.5, 1.1, 1.0, 2)
    assert segment.start_s == 0.0 and segment.end_s == 1.1
    assert (segment.score, segment.best_frame_s, segment.bbox) == (0.9, 0.5, (5, 6, 7, 8))
    assert segment.model_dump(mode="json")["bbox"] == [5, 6, 7, 8]


def test_the_track_is_the_box_at_each_frame_the_product_was_seen_in_time_order():
    moving = [Hit(1.5, 0.6, (40, 0, 10, 10)), Hit(0.5, 0.9, (0, 0, 10, 10)), Hit(1.0, 0.7, (20, 0, 10, 10)),
              Hit(9.0, 0.8, (90, 0, 10, 10)), Hit(9.5, 0.8, (95, 0, 10, 10))]
    first, second = build_segments(moving, 0.5, 10.0, max_gap_s=1.0, min_hits=2)
    assert first.track == ((0.5, 0, 0, 10, 10), (1.0, 20, 0, 10, 10), (1.5, 40, 0, 10, 10))
    assert second.track == ((9.0, 90, 0, 10, 10), (9.5, 95, 0, 10, 10))  # each segment its own rows


def test_a_segment_of_questions_only_is_uncertain_and_one_told_hit_makes_it_certain():
    asked = [Hit(t, 0.9, BOX, question=True) for t in (1.0, 1.5, 2.0)]
    (questions,) = build_segments(asked, 0.5, 10.0, max_gap_s=1.0, min_hits=2)
    assert questions.uncertain and questions.score == 0.9  # its score still says how alike it looks
    (told,) = build_segments([*asked, Hit(2.5, 0.7, BOX)], 0.5, 10.0, max_gap_s=1.0, min_hits=2)
    assert not told.uncertain
