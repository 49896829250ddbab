"""The researcher toolkit through its real commands: annotations, the benchmark generator,
sweeps, and `shoptag eval` on real footage with the real model."""

import json
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from shoptag.demo import DEMO_APPEARANCES, media_path, write_demo_catalog, write_demo_video
from shoptag.errors import ConfigError
from shoptag.evaluation.activitynet import write_activitynet_results, write_activitynet_truth
from shoptag.evaluation.annotations import AnnotationError, TruthAppearance, VideoAnnotation, load_annotations
from shoptag.evaluation.metrics import Interval
from shoptag.evaluation.run import canonical_ids, truth_intervals
from shoptag.evaluation.sweep import SWEEPABLE, best_point, grid, parse_sweep
from shoptag.settings import TaggingSettings


def shoptag(*args):
    return subprocess.run([sys.executable, "-m", "shoptag.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=600)


def test_annotation_errors_name_the_problem(tmp_path):
    path = tmp_path / "a.json"
    (tmp_path / "v.mp4").write_bytes(b"x")
    cases = [
        ({"videos": []}, "at least one video"),
        ({"videos": [{"video": "missing.mp4", "appearances": []}]}, "does not exist"),
        ({"videos": [{"video": "v.mp4"}]}, "'appearances' must be a list"),
        ({"videos": [{"video": "v.mp4", "appearances": [{"product_id": "a", "start_s": 3, "end_s": 1}]}]},
         "start_s < end_s"),
        ({"videos": [{"video": "v.mp4", "appearances": [{"product_id": "a", "start_s": 0, "end_s": 1,
                                                         "bbox": [1, 2]}]}]}, "bbox"),
    ]
    for payload, message in cases:
        path.write_text(json.dumps(payload))
        with pytest.raises(AnnotationError, match=message):
            load_annotations(path)
    path.write_text(json.dumps({"videos": [{"video": "v.mp4", "appearances": []}]}))
    (video,) = load_annotations(path)
    assert video.product_free and video.video == tmp_path / "v.mp4"


def test_sweeps_parse_ranges_and_lists():
    assert parse_sweep("threshold=0.5:0.7:0.1") == ("threshold", [0.5, 0.6, 0.7])
    assert parse_sweep("fps=1,2,4") == ("fps", [1.0, 2.0, 4.0])
    assert parse_sweep("top_k=5,10") == ("top_k", [5, 10])
    assert grid(["threshold=0.5,0.6", "fps=1,2"]) == [
        {"fps": 1.0, "threshold": 0.5}, {"fps": 1.0, "threshold": 0.6},
        {"fps": 2.0, "threshold": 0.5}, {"fps": 2.0, "threshold": 0.6}]
    for bad in ("speed=1,2", "threshold", "threshold=0.9:0.5:0.1", "fps=a,b"):
        with pytest.raises(ConfigError, match="bad --sweep"):
            grid([bad])


def test_swept_values_are_validated_as_the_tagging_settings_they_are():
    assert set(SWEEPABLE) == set(TaggingSettings.model_fields) - {"region_scales"}
    assert parse_sweep("top_k=5:15:5") == ("top_k", [5, 10, 15])
    assert parse_sweep("verify=true,off") == ("verify", [True, False])
    assert parse_sweep("min_hits=1,3") == ("min_hits", [1, 3])
    for bad, message in (("threshold=2", "threshold=2: Input should be less than or equal to 1"),
                         ("threshold=0.5:1.5:0.5", "threshold=1.5: Input should be less than or equal to 1"),
                         ("top_k=5:6:0.5", "top_k=5.5: Input should be a valid integer"),
                         ("min_hits=0", "min_hits=0: Input should be greater than or equal to 1"),
                         ("verify=maybe", "verify=maybe: Input should be a valid boolean"),
                         ("region_scales=1", "region_scales is a list and cannot be swept"),
                         ("speed=1,2", "speed is not a tagging setting")):
        with pytest.raises(ConfigError, match=f"bad --sweep '{bad}': {message}"):
            parse_sweep(bad)
    # Settings that change the scan first (top_k among them), so points sharing a scan run together.
    assert [list(point) for point in grid(["threshold=0.5,0.6", "top_k=5,10"])] == [["top_k", "threshold"]] * 4
    refused = shoptag("eval", "--annotations", "missing.json", "--index", "missing", "--sweep", "threshold=2")
    assert refused.returncode == 1 and "bad --sweep 'threshold=2'" in refused.stderr


def test_the_best_point_is_the_best_f1_among_the_quietest():
    def point(threshold, f1, false_rate):
        return {"settings": {"threshold": threshold},
                "metrics": {"segment@tIoU0.5": {"f1": f1}, "false_tags_per_minute": false_rate}}

    points = [point(0.5, 0.9, 1.5), point(0.55, 0.6, 0.0), point(0.6, 0.6, 0.0), point(0.7, 0.3, 0.0)]
    assert best_point(points)["settings"]["threshold"] == 0.6
    assert best_point([point(0.5, 0.9, 2.0), point(0.6, 0.4, 1.0)])["settings"]["threshold"] == 0.6


@pytest.fixture(scope="module")
def bench_inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bench")
    catalog = write_demo_catalog(folder / "catalog")
    backgrounds = folder / "backgrounds"
    backgrounds.mkdir()
    shutil.copyfile(media_path("city.mp4"), backgrounds / "city.mp4")
    shutil.copyfile(media_path("chelsea.jpg"), backgrounds / "room.jpg")  # a photo background: a slow pan
    return folder, catalog, backgrounds


def frames_digest(path):
    capture = cv2.VideoCapture(str(path))
    digest = []
    while (read := capture.read())[0]:
        digest.append(int(read[1][::8, ::8].sum()))
    capture.release()
    return digest


def test_bench_make_is_deterministic_and_labels_what_it_draws(bench_inputs):
    folder, catalog, backgrounds = bench_inputs
    runs = []
    for name, seed in (("a", 2), ("b", 2), ("c", 4)):
        done = shoptag("bench", "make", "--catalog", catalog, "--backgrounds", backgrounds, "--out", folder / name,
                       "--videos", 6, "--duration", 5, "--seed", seed)
        assert done.returncode == 0, done.stderr
        runs.append(json.loads((folder / name / "annotations.json").read_text()))
    assert runs[0]["videos"] == runs[1]["videos"] and runs[0]["videos"] != runs[2]["videos"]
    assert frames_digest(folder / "a" / "bench_000.mp4") == frames_digest(folder / "b" / "bench_000.mp4")
    videos = load_annotations(folder / "a" / "annotations.json")
    counts = {len(v.appearances) for v in videos}
    assert 0 in counts and 2 in counts, counts  # product-free and multi-product videos are both there
    for video in videos:
        capture = cv2.VideoCapture(str(video.video))
        frame_count, fps = capture.get(cv2.CAP_PROP_FRAME_COUNT), capture.get(cv2.CAP_PROP_FPS)
        capture.release()
        assert frame_count / fps == pytest.approx(5.0, abs=0.1)
        for appearance in video.appearances:
            x, y, w, h = appearance.bbox
            assert 0 <= appearance.start_s < appearance.end_s <= 5.0
            assert 0 <= x and 0 <= y and x + w <= 640 and y + h <= 360 and w * h > 1000


@pytest.mark.model
def test_eval_reports_known_truth_as_found_and_writes_its_outputs(tmp_path, effnet):
    catalog = write_demo_catalog(tmp_path / "catalog")
    assert shoptag("index", "build", catalog, "--index", tmp_path / "index", "--model", "effnet-lite0").returncode == 0
    write_demo_video(tmp_path / "demo.mp4")
    shutil.copyfile(media_path("city.mp4"), tmp_path / "street.mp4")
    truth = [{"product_id": pid, "start_s": start, "end_s": end} for pid, start, end, *_ in DEMO_APPEARANCES]
    (tmp_path / "truth.json").write_text(json.dumps({"videos": [
        {"video": "demo.mp4", "appearances": truth}, {"video": "street.mp4", "appearances": []}]}))
    # The second row of the comparison is an index built here for a model named on the command line.
    done = shoptag("eval", "--index", tmp_path / "index", "--catalog", catalog, "--model", "effnet-lite0",
                   "--annotations", tmp_path / "truth.json", "--out", tmp_path / "out",
                   "--sweep", "threshold=0.55:0.65:0.05")
    assert done.returncode == 0, done.stderr
    assert "best operating point" in done.stdout
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    m = metrics["metrics"]
    assert m["segment@tIoU0.5"] == {"tp": 2, "fp": 0, "fn": 0, "precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert m["video_level"]["f1"] == 1.0 and m["false_tags_per_minute"] == 0.0
    assert m["frame_retrieval"]["recall@5"] >= m["frame_retrieval"]["recall@1"] > 0.5
    assert set(m["stage_seconds"]) == {"decode", "embed", "search", "vote", "verify", "aggregate"}
    assert m["throughput_video_s_per_s"] > 0
    assert [p["settings"]["threshold"] for p in metrics["sweep"]] == [0.55, 0.6, 0.65]
    assert len(metrics["pr_curve"]) == 66 and len(metrics["comparison"]) == 2
    assert metrics["comparison"][1]["label"] == "effnet-lite0 (effnet-lite0:onnx-fp32)"
    assert metrics["comparison"][1]["metrics"]["segment@tIoU0.5"] == m["segment@tIoU0.5"]
    # The evaluated pipeline is the served one: its predictions are what `shoptag tag` prints.
    tagged = shoptag("tag", tmp_path / "demo.mp4", "--index", tmp_path / "index")
    assert tagged.returncode == 0, tagged.stderr
    predicted = json.loads((tmp_path / "out" / "predictions.json").read_text())
    assert predicted[0]["tags"] == json.loads(tagged.stdout)["tags"] and predicted[0]["tags"]
    report = (tmp_path / "out" / "report.md").read_text()
    assert "## Sweep" in report and "## Comparison" in report and "espresso-cup" in report
    for plot in ("pr_curve.png", "timeline.png", "per_product.png"):
        image = cv2.imread(str(tmp_path / "out" / plot))
        assert image is not None and image.shape[0] > 100 and np.std(image) > 5


@pytest.mark.model
def test_names_that_look_like_markup_are_drawn_as_text_and_the_report_is_written(tmp_path):
    # "$\foo$" is mathtext matplotlib cannot draw: the run ended before report.md.
    names = {"espresso-cup": r"$\foo$ mug", "astronaut-poster": "$x^{2$ poster"}
    catalog = write_demo_catalog(tmp_path / "catalog")
    rows = [json.loads(line) for line in catalog.read_text().splitlines()]
    catalog.write_text("".join(json.dumps({**row, "product_id": names.get(row["product_id"], row["product_id"])})
                               + "\n" for row in rows))
    assert shoptag("index", "build", catalog, "--index", tmp_path / "index", "--model", "effnet-lite0").returncode == 0
    write_demo_video(tmp_path / r"$\bar$.mp4")
    truth = [{"product_id": names[pid], "start_s": start, "end_s": end} for pid, start, end, *_ in DEMO_APPEARANCES]
    (tmp_path / "truth.json").write_text(json.dumps({"videos": [{"video": r"$\bar$.mp4", "appearances": truth}]}))
    done = shoptag("eval", "--index", tmp_path / "index", "--annotations", tmp_path / "truth.json",
                   "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    report = (tmp_path / "out" / "report.md").read_text()
    assert r"| $\foo$ mug |" in report and "| $x^{2$ poster |" in report
    for plot in ("timeline.png", "per_product.png"):
        assert cv2.imread(str(tmp_path / "out" / plot)) is not None


def test_interchangeable_products_count_as_one_and_recall_is_bucketed(tmp_path):
    (tmp_path / "v.mp4").write_bytes(b"x")
    appearance = {"product_id": "mug-blue", "start_s": 1.0, "end_s": 3.0, "width_frac": 0.1, "kind": "textured",
                  "interchangeable": ["mug-red"]}
    (tmp_path / "a.json").write_text(json.dumps({"videos": [{"video": "v.mp4", "appearances": [appearance]}]}))
    (video,) = load_annotations(tmp_path / "a.json")
    canonical = canonical_ids([video])
    assert canonical == {"mug-blue": "mug-blue", "mug-red": "mug-blue"}
    assert [i.product_id for i in truth_intervals(video, canonical)] == ["mug-blue"]
    assert video.appearances[0].as_json() == appearance
    with pytest.raises(AnnotationError, match="interchangeable"):
        (tmp_path / "b.json").write_text(json.dumps({"videos": [{"video": "v.mp4", "appearances": [
            {**appearance, "interchangeable": "mug-red"}]}]}))
        load_annotations(tmp_path / "b.json")


@pytest.mark.model
def test_eval_reads_activitynet_truth_writes_activitynet_results_and_scores_boxes(bench_inputs, tmp_path):
    folder, catalog, backgrounds = bench_inputs
    bench = tmp_path / "bench"
    made = shoptag("bench", "make", "--catalog", catalog, "--backgrounds", backgrounds, "--out", bench,
                   "--videos", 5, "--duration", 5, "--seed", 2)
    assert made.returncode == 0, made.stderr
    ours, theirs = load_annotations(bench / "annotations.json"), load_annotations(bench / "activitynet_gt.json")
    assert [(v.video, v.appearances) for v in ours] == [(v.video, v.appearances) for v in theirs]
    tracked = [a for v in ours for a in v.appearances]
    assert tracked and all(len(a.track) >= 2 * 12 for a in tracked)  # every frame of 2 s or more at 12 fps
    assert shoptag("index", "build", catalog, "--index", tmp_path / "index", "--model", "effnet-lite0").returncode == 0

    runs = {}
    for name, truth in (("ours", "annotations.json"), ("activitynet", "activitynet_gt.json")):
        done = shoptag("eval", "--index", tmp_path / "index", "--annotations", bench / truth, "--out",
                       tmp_path / name, "--bootstrap", 200, *(["--retrieval"] if name == "ours" else []))
        assert done.returncode == 0, done.stderr
        runs[name] = json.loads((tmp_path / name / "metrics.json").read_text())["metrics"]
    m = runs["ours"]
    assert {k: v for k, v in runs["activitynet"].items() if k not in ("stage_seconds", "throughput_video_s_per_s")} \
        == {k: v for k, v in m.items() if k not in ("stage_seconds", "throughput_video_s_per_s", "retrieval")}
    detection = m["detection"]
    assert set(detection) == {"AP@tIoU0.3", "AP@tIoU0.5", "AP@tIoU0.7", "mAP@tIoU0.5:0.95"}
    assert detection["AP@tIoU0.3"] >= detection["AP@tIoU0.5"] >= detection["AP@tIoU0.7"] > 0
    assert m["bootstrap"] == {"resamples": 200, "seed": 0, "level": 0.95, "over": "videos"}
    for name, (low, high) in m["intervals"].items():
        value = {"segment_f1@tIoU0.5": m["segment@tIoU0.5"]["f1"], "video_f1": m["video_level"]["f1"],
                 "frame_MRR": m["frame_retrieval"]["MRR"], **detection}[name]
        assert low <= value + 1e-4 and value - 1e-4 <= high, name
    assert "MRR" in m["frame_retrieval"] and 0 < m["frame_retrieval"]["mAP"] <= 1
    box = m["box@tIoU0.5"]
    assert box["scored"] == box["segments"] == m["segment@tIoU0.5"]["tp"] > 0
    assert 0.5 < box["mean_iou"] <= 1 and box["share_iou>=0.5"] > 0.5
    track = m["box_track@tIoU0.5"]  # every frame each matched segment saw, not only its best one
    assert track["rows"] > box["scored"] and 0.5 < track["mean_iou"] <= 1 and track["share_iou>=0.5"] > 0.5
    view = m["retrieval"]
    assert view["region"]["all"]["queries"] == view["frame"]["all"]["queries"] > 10
    assert view["region"]["all"]["recall@10"] >= view["region"]["all"]["recall@1"] > 0.5

    # The results file is ActivityNet's: every video by id, segments best first.
    results = json.loads((tmp_path / "ours" / "activitynet_results.json").read_text())
    assert set(results) == {"version", "results", "external_data"}
    assert set(results["results"]) == {v.video.stem for v in ours}
    for rows in results["results"].values():
        assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
        assert all(set(r) == {"label", "score", "segment"} and r["segment"][0] < r["segment"][1] for r in rows)
    report = (tmp_path / "ours" / "report.md").read_text()
    assert "bootstrap intervals" in report and "## Retrieval" in report and "Boxes:" in report
    assert "Over their tracks" in report

    # Two runs on the same videos compare pairwise; the same predictions differ by nothing.
    compared = shoptag("eval-compare", tmp_path / "ours", tmp_path / "activitynet", "--bootstrap", 100)
    assert compared.returncode == 0, compared.stderr
    assert "| segment_f1@tIoU0.5 | +0.000 | +0.000 to +0.000 | within the noise |" in compared.stdout
    assert "outside the noise" not in compared.stdout


def test_activitynet_truth_is_read_by_video_id_and_its_errors_name_the_problem(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "abc.mp4").write_bytes(b"x")
    (videos / "v_def.webm").write_bytes(b"x")
    truth = tmp_path / "gt.json"

    def database(**entries):
        truth.write_text(json.dumps({"version": "1.3", "database": entries}))
        return truth

    def entry(*rows, subset="validation"):
        return {"subset": subset, "duration": 8.0, "annotations": list(rows)}

    mug = {"segment": [1.0, 3.5], "label": "mug", "track": [[1.0, 10, 20, 30, 40]]}
    read = load_annotations(database(abc=entry(mug), **{"def": entry(subset="training")}), videos)
    assert [(v.id, v.video.name, v.duration_s) for v in read] == [("abc", "abc.mp4", 8.0), ("def", "v_def.webm", 8.0)]
    (appearance,) = read[0].appearances
    assert appearance.product_id == "mug" and appearance.track == ((1.0, 10, 20, 30, 40),)
    assert appearance.box_at(1.1, 0.25) == (10, 20, 30, 40) and appearance.box_at(2, 0.25) is None
    assert [v.id for v in load_annotations(truth, videos, subset="training")] == ["def"]
    cases = [
        ({"abc": entry({"segment": [3, 1], "label": "mug"})}, None, "start_s < end_s"),
        ({"abc": entry({"segment": [1], "label": "mug"})}, None, r"'segment' must be \[start_s, end_s\]"),
        ({"abc": entry({"segment": [0, 1]})}, None, "needs a 'label'"),
        ({"abc": {"annotations": "x"}}, None, "'annotations' must be a list"),
        ({"abc": {**entry(), "duration": -1}}, None, "duration must be a positive"),
        ({"nope": entry()}, None, "no video file nope.mp4"),
        ({"../abc": entry()}, None, "a video id cannot be a path"),
        ({"abc": entry({**mug, "track": [[0, 1, 2]]})}, None, r"track\[0\]: expected \[time_s, x, y, w, h\]"),
        ({"abc": entry()}, "testing", "no video of subset 'testing'"),
        ({"abc": entry({"segment": ["1", 2], "label": "mug"})}, None, "segment start must be a finite number"),
        ({"abc": entry({"segment": [True, 2], "label": "mug"})}, None, "segment start must be a finite number"),
        ({"abc": entry({"segment": [0, 10**400], "label": "mug"})}, None, "segment end must be a finite number"),
        ({"abc": {**entry(), "duration": True}}, None, "duration must be a finite number"),
        ({"abc": entry({**mug, "bbox": [0, 0, -5, 5]})}, None, "bbox width and height must not be negative"),
        ({"abc": entry({**mug, "bbox": ["a", 0, 5, 5]})}, None, "bbox must be a finite number"),
        ({"abc": entry({**mug, "width_frac": 3})}, None, r"width_frac must be in \(0, 1\]"),
        ({"abc": entry({**mug, "track": [[0, 1e300, 2, 3, 4]]})}, None, "whole number of pixels"),
        ({"x" * 300: entry()}, None, "no video file"),
    ]
    for entries, subset, message in cases:
        with pytest.raises(AnnotationError, match=message):
            load_annotations(database(**entries), videos, subset)
    with pytest.raises(AnnotationError, match="not a regular file"):
        load_annotations(videos)
    truth.write_text('{"database": {"abc": {"annotations": [{"segment": [0, Infinity], "label": "mug"}]}}}')
    with pytest.raises(AnnotationError, match="Infinity is not a JSON number"):
        load_annotations(truth, videos)
    (videos / "abc.webm").write_bytes(b"x")
    (tmp_path / "ours.json").write_text(json.dumps({"videos": [{"video": "videos/abc.mp4", "appearances": []},
                                                               {"video": "videos/abc.webm", "appearances": []}]}))
    with pytest.raises(AnnotationError, match="share the id 'abc'"):
        load_annotations(tmp_path / "ours.json")
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(AnnotationError, match="cannot be read"):
        load_annotations(tmp_path / "deep.json")


def test_activitynet_files_are_what_the_official_evaluator_reads(tmp_path):
    """Ground truth with a taxonomy; results only under labels the truth has, a variant's tag
    under the label of the product it stands in for in that video, best first."""
    (tmp_path / "a.mp4").write_bytes(b"x")
    (tmp_path / "b.mp4").write_bytes(b"x")
    blue = TruthAppearance("mug-blue", 1.0, 3.0, interchangeable=("mug-red",))
    videos = [VideoAnnotation(tmp_path / "a.mp4", (blue,), duration_s=8.0), VideoAnnotation(tmp_path / "b.mp4", ())]
    write_activitynet_truth(tmp_path / "gt.json", videos)
    truth = json.loads((tmp_path / "gt.json").read_text())
    assert truth["taxonomy"] == [] and truth["database"]["a"]["annotations"][0]["label"] == "mug-blue"
    assert truth["database"]["b"] == {"subset": "validation", "annotations": []}
    predicted = [[Interval("mug-red", 1.0, 3.0, 0.7), Interval("hat", 0.0, 2.0, 0.9)],
                 [Interval("mug-blue", 4.0, 5.0, 0.6)]]
    write_activitynet_results(tmp_path / "results.json", videos, predicted, canonical_ids(videos), "test")
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["results"] == {"a": [{"label": "mug-blue", "score": 0.7, "segment": [1.0, 3.0]}],
                                  "b": [{"label": "mug-blue", "score": 0.6, "segment": [4.0, 5.0]}]}
    assert results["external_data"] == {"used": False, "details": "test"}
