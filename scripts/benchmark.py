"""Tagging speed on a 60 s 1280x720 30 fps clip, per runtime, profile and stage, in one run:

    python scripts/benchmark.py [--out speed-run] [--eval eval-run] [--all]

The clip is real street footage (kivy's cityCC0) with 10 products of the catalog-scale
benchmark's catalog (scripts/catalog_benchmark.py) passing through it, 4 s each. Printed, as
seconds and as ratios to the decode floor measured in the same run:

- the decode floor: decoding every frame and keeping the 2 a second that tagging samples;
- a naive peer: one whole-frame embedding per sampled frame and an exact search (eager torch);
- the evidence floor: decoding, the region embeddings and the frame's SIFT points, once per
  sampled frame, and nothing else (what full discovery on every frame reads);
- ``Tagger.tag`` in-process with full discovery on every frame (keyframe_interval 1, 3 + 5
  candidates: the pipeline before keyframes, the baseline), then each speed profile (default,
  fast) on each runtime of effnet-lite0 (eager torch, ONNX Runtime fp32, ONNX Runtime int8),
  with each stage's time per sampled frame and how many of the 10 products it tagged in their
  interval (temporal IoU >= 0.5);
- ``shoptag tag`` end to end (a new process: imports, model, index, tagging) on the default
  runtime in each profile, with its peak memory, and on the clip's first second (start-up).

``--eval DIR`` adds each profile's catalog-scale accuracy from a scripts/evaluate.py run
(DIR/accuracy.json). ``--all`` then runs scripts/benchmark_embedders.py,
benchmark_service.py and benchmark_index.py too (about 15 minutes more). Run
scripts/fetch_test_media.sh first.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from bench_support import MEDIA, run_steps

from shoptag.demo import DEMO_PRODUCTS, media_path
from shoptag.evaluation.catalog_bench import CatalogSpec, build_catalog
from shoptag.evaluation.metrics import temporal_iou
from shoptag.indexing.store import CatalogIndex
from shoptag.model import create_embedder
from shoptag.settings import PROFILES, Settings
from shoptag.tagging import Tagger
from shoptag.tagging.scan import embed_frame_regions
from shoptag.tagging.verify import FRAME_SIDE, frame_features
from shoptag.video.compose import Appearance, Motion, loop_frames, read_frames, render_clip
from shoptag.video.sampler import VideoSampler

RUNTIMES = ("effnet-lite0:torch", "effnet-lite0", "effnet-lite0:onnx-int8")
BASELINE = {"keyframe_interval": 1, "verify_candidates": 3, "vote_candidates": 5}
OTHER_SCRIPTS = ("benchmark_embedders.py", "benchmark_service.py", "benchmark_index.py")
SIZE, FPS, DURATION_S, PRODUCTS, SHOWN_S = (1280, 720), 30.0, 60.0, 10, 4.0


def make_clip(catalog: Path, out: Path) -> list[tuple[str, Appearance]]:
    """Write the clip (once) and return its truth: (product id, when it is shown)."""
    rows = [json.loads(line) for line in catalog.read_text().splitlines()]
    rng = np.random.default_rng(7)
    layers, truth = [], []
    for number, row in enumerate(rng.choice(len(rows), PRODUCTS, replace=False)):
        start, width = 1.0 + number * 5.8, float(rng.uniform(0.15, 0.35))
        layers.append(Motion(
            photo=cv2.imread(str(catalog.parent / rows[row]["images"][0])), start_s=start, end_s=start + SHOWN_S,
            path=(tuple(rng.uniform([0.3, 0.35], [0.7, 0.65])), tuple(rng.uniform([0.3, 0.35], [0.7, 0.65]))),
            width=(width, width * 1.1), angle=tuple(rng.uniform(-8, 8, 2)), corners=rng.uniform(-0.05, 0.05, (4, 2)),
            occlusion=None, blur_sigma=0.0, gain=1.0))
        truth.append((rows[row]["product_id"], Appearance(start, start + SHOWN_S)))
    if not out.exists():
        footage = read_frames(MEDIA / "cityCC0.mpg", SIZE)
        render_clip(out, loop_frames(footage, round(DURATION_S * FPS)), layers, FPS, SIZE)
    return truth


def first_second(clip: Path, out: Path) -> Path:
    capture = cv2.VideoCapture(str(clip))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), FPS, SIZE)
    for _ in range(round(FPS)):
        writer.write(capture.read()[1])
    writer.release()
    capture.release()
    return out


def decode_floor(clip: Path, settings: Settings) -> float:
    started = time.perf_counter()
    for _ in VideoSampler(clip, settings.tagging.fps, settings.video).frames():
        pass
    return time.perf_counter() - started


def naive_peer(clip: Path, settings: Settings, index_path: Path) -> float:
    embedder = create_embedder(settings.model)
    index = CatalogIndex.load(index_path, embedder)
    started = time.perf_counter()
    for frame in VideoSampler(clip, settings.tagging.fps, settings.video).frames():
        index.search(embedder.embed_images([frame.image]), settings.tagging.top_k)
    return time.perf_counter() - started


def evidence_floor(clip: Path, settings: Settings) -> float:
    """Decoding plus the two inputs that every later stage reads, once per sampled frame: the
    region embeddings (one pass of the default runtime) and the frame's SIFT points at the
    verification resolution. No search, matching, proposals or alignment: the least any
    tagger with this evidence costs."""
    embedder = create_embedder(settings.model)
    started = time.perf_counter()
    for frame in VideoSampler(clip, settings.tagging.fps, settings.video).frames():
        embed_frame_regions(embedder, frame.image, settings.tagging)
        frame_features(frame.image)
    return time.perf_counter() - started


def tag_in_process(clip: Path, settings: Settings, index_path: Path, truth) -> tuple[float, dict, int, int]:
    """(seconds, stage seconds, frames, products of the truth tagged in their interval)."""
    embedder = create_embedder(settings.model)
    tagger = Tagger(embedder, CatalogIndex.load(index_path, embedder), settings.tagging, settings.video)
    started = time.perf_counter()
    result = tagger.tag(clip)
    seconds = time.perf_counter() - started
    found = sum(any(tag.product_id == product and any(temporal_iou(s, shown) >= 0.5
                                                        for s in tag.segments) for tag in result.tags)
                for product, shown in truth)
    return seconds, result.stage_seconds, result.frames_sampled, found


def end_to_end(clip: Path, index_path: Path, *options: str) -> tuple[float, float]:
    """(seconds, peak resident memory in MiB) of ``shoptag tag`` in a new process."""
    started = time.perf_counter()
    run = subprocess.run([sys.executable, "-c", _MEASURED_CLI, "tag", str(clip), "--index", str(index_path), *options],
                         check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return time.perf_counter() - started, float(run.stderr.strip().splitlines()[-1]) / 1024


# The CLI, then its own peak memory (KiB, Linux) on stderr's last line.
_MEASURED_CLI = """
import resource, sys
from shoptag.cli.main import app
sys.argv[0] = "shoptag"
try:
    app()
except SystemExit as exit:
    if exit.code:
        raise
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""


def accuracy(eval_run: Path | None) -> dict[str, str]:
    """Each profile's mean catalog-scale segment F1 from a scripts/evaluate.py run, as printed."""
    if eval_run is None or not (eval_run / "accuracy.json").exists():
        return {}
    return {profile: f"catalog-scale seg F1 {value['mean']:.3f} (seeds {value['seeds']})"
            for profile, value in json.loads((eval_run / "accuracy.json").read_text()).items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("speed-run"))
    parser.add_argument("--eval", type=Path, help="a scripts/evaluate.py --out folder: each profile's accuracy")
    parser.add_argument("--all", action="store_true", help="also run the embedder, service and index benchmarks")
    args = parser.parse_args()
    if not (MEDIA / "packages").is_dir():
        print(f"media missing at {MEDIA}: run scripts/fetch_test_media.sh first", file=sys.stderr)
        return 1
    catalog = args.out / "catalog" / "catalog.jsonl"
    if not catalog.exists():
        photos = [media_path(photo) for _, _, photo in DEMO_PRODUCTS] + sorted((MEDIA / "photos").glob("*.jpg"))
        build_catalog(MEDIA / "packages", photos, catalog.parent, CatalogSpec())
    clip = args.out / "clip-60s-720p.mp4"
    truth = make_clip(catalog, clip)
    indexes = {spec: args.out / f"index-{spec.replace(':', '-')}" for spec in RUNTIMES}
    status = run_steps([["index", "build", catalog, "--index", path, "--model", spec]
                        for spec, path in indexes.items() if not path.exists()])
    if status:
        return status
    default = "effnet-lite0"
    profiles = {profile: {spec: Settings(model={"spec": spec}, tagging={"profile": profile}) for spec in RUNTIMES}
                for profile in PROFILES}
    settings = profiles["default"]
    scores = accuracy(args.eval)
    floor = decode_floor(clip, settings[default])
    rows = [("decode floor (2 of 30 frames a second)", floor, ""),
            ("naive peer: whole-frame embedding + search, eager torch",
             naive_peer(clip, settings[RUNTIMES[0]], indexes[RUNTIMES[0]]), ""),
            (f"evidence floor: region embeddings ({default}) + SIFT at {FRAME_SIDE} px per frame",
             evidence_floor(clip, settings[default]), "")]
    stages = {}
    # The pipeline before keyframes (every frame a keyframe, its candidate counts), on this
    # release's matching: the baseline the profiles are compared with.
    runs = [("every frame a keyframe (baseline)", default, Settings(model={"spec": default}, tagging=BASELINE))]
    runs += [(profile, spec, profiles[profile][spec]) for profile in PROFILES for spec in RUNTIMES]
    for profile, spec, run_settings in runs:
        seconds, stage_seconds, frames, found = tag_in_process(clip, run_settings, indexes[spec], truth)
        rows.append((f"Tagger.tag, {spec}, {profile}", seconds, f"{found}/{len(truth)} products tagged"))
        stages[f"{spec}, {profile}"] = {name: 1000 * value / frames for name, value in stage_seconds.items()}
    for profile in PROFILES:
        seconds, peak_mib = end_to_end(clip, indexes[default], "--profile", profile)
        rows.append((f"shoptag tag end to end, {default}, --profile {profile}", seconds,
                     f"peak {peak_mib:.0f} MiB; {scores.get(profile, 'accuracy: pass --eval')}"))
    rows.append(("shoptag tag on the clip's first second (start-up)",
                 end_to_end(first_second(clip, args.out / "clip-1s.mp4"), indexes[default])[0], ""))
    print(f"\n60 s 1280x720 clip, {len(truth)} products, 2 frames/s sampled, 2 cores")
    print("| what | seconds | x decode floor | video s per s | |\n|---|---|---|---|---|")
    for name, seconds, note in rows:
        print(f"| {name} | {seconds:.1f} | {seconds / floor:.1f} | {DURATION_S / seconds:.1f} | {note} |")
    columns = list(stages)
    names = sorted({name for per in stages.values() for name in per}, key=lambda n: -stages[columns[0]].get(n, 0))
    print("\nms per sampled frame\n| stage | " + " | ".join(columns) + " |\n|---|" + "---|" * len(columns))
    for name in names:
        print(f"| {name} | " + " | ".join(f"{stages[column].get(name, 0):.0f}" for column in columns) + " |")
    if args.all:
        folder = Path(__file__).resolve().parent
        for script in OTHER_SCRIPTS:
            print(f"\n== {script}", flush=True)
            status = subprocess.run([sys.executable, str(folder / script)]).returncode
            if status:
                return status
    return 0


if __name__ == "__main__":
    sys.exit(main())
