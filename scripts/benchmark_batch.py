"""Throughput of the two batch jobs, in process against a local Ray on this machine:

    python scripts/benchmark_batch.py [--images 300] [--videos 8] [--workers 2]

- indexing: `shoptag index build` of ``--images`` distinct real-photo crops (one product
  each), in process (the baseline) and with ``--engine ray`` (``--workers`` embedding actors):
  images per second;
- batch tagging: `shoptag tag-batch` of ``--videos`` copies of the demo clip (7.6 s, 640x360),
  in process (``--workers`` processes: the baseline) and on Ray (``--workers`` actors):
  video-seconds per second.

Each run is its own process, as a user runs it, so start-up (the model, a local Ray) counts.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark_shopify import distinct_photos  # noqa: E402

from shoptag.demo import write_demo_video  # noqa: E402
from shoptag.settings import OFFLINE_MODEL_SPEC  # noqa: E402


def shoptag(*args, env: dict | None = None) -> tuple[float, dict]:
    """(wall seconds, the JSON report it printed)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "shoptag.cli", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"shoptag {' '.join(map(str, args))} failed:\n{done.stderr[-3000:]}")
    return seconds, json.loads(done.stdout[done.stdout.index("{"):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    ray_env = {"SHOPTAG_RAY__WORKERS": str(args.workers), "SHOPTAG_RAY__NUM_CPUS": str(os.cpu_count() or 1)}
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        photos = distinct_photos(root / "photos", args.images)
        catalog = root / "catalog.jsonl"
        catalog.write_text("".join(json.dumps({"product_id": f"p{i}", "title": f"Product {i}", "images": [str(p)]})
                                   + "\n" for i, p in enumerate(sorted(photos.values()))))
        print(f"indexing {args.images} images (images/s, wall time of the whole command)", flush=True)
        built = {}
        for engine in ("process", "ray"):
            seconds, report = shoptag("index", "build", catalog, "--index", root / engine, "--model",
                                      OFFLINE_MODEL_SPEC, "--engine", engine, env=ray_env)
            built[engine] = seconds
            label = "baseline: in process" if engine == "process" else f"local Ray, {args.workers} actors"
            print(f"  {label:<28} {seconds:7.1f} s  {report['images'] / seconds:6.1f} images/s  "
                  f"{built['process'] / seconds:.2f}", flush=True)

        videos = root / "videos"
        videos.mkdir()
        write_demo_video(videos / "clip-000.mp4")
        for number in range(1, args.videos):
            shutil.copyfile(videos / "clip-000.mp4", videos / f"clip-{number:03d}.mp4")
        print(f"\nbatch tagging {args.videos} clips of 7.6 s (video-seconds/s)", flush=True)
        tagged = {}
        for engine in ("process", "ray"):
            seconds, report = shoptag("tag-batch", videos, "--index", root / "process", "--out",
                                      root / f"{engine}.jsonl", "--engine", engine, "--workers", args.workers,
                                      env=ray_env)
            tagged[engine] = seconds
            video_seconds = report["video_seconds_per_second"] * report["seconds"]
            label = (f"baseline: {args.workers} processes" if engine == "process"
                     else f"local Ray, {args.workers} actors")
            print(f"  {label:<28} {seconds:7.1f} s  {video_seconds / seconds:6.2f} video-s/s  "
                  f"{tagged['process'] / seconds:.2f}", flush=True)


if __name__ == "__main__":
    main()
