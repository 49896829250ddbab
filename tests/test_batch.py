"""Batch jobs through the CLI: `shoptag tag-batch` in process and on a local Ray (the same
lines either way), resumed after an interruption; `shoptag index build|update --engine ray`
writes the index the in-process engine writes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shoptag.batch.tag_batch import plan_batch
from shoptag.cli.main import main
from shoptag.demo import write_demo_catalog, write_demo_video
from shoptag.indexing.store import CatalogIndex
from shoptag.settings import ModelSettings, Settings

from helpers.media import write_test_video


def shoptag(*args) -> int:
    return main([str(arg) for arg in args])


@pytest.fixture(scope="module")
def ray_local():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    folder = tmp_path_factory.mktemp("batch")
    assert shoptag("index", "build", write_demo_catalog(folder / "catalog"), "--index", folder / "index",
                   "--model", "effnet-lite0") == 0
    return folder / "index"


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Two clips of the demo (the same products at the same times), a clip without products, and
    a file that is no video."""
    folder = tmp_path_factory.mktemp("videos")
    write_demo_video(folder / "demo-1.mp4")
    shutil.copyfile(folder / "demo-1.mp4", folder / "demo-2.mp4")
    write_test_video(folder / "texture.mp4")
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really")
    (folder / "notes.txt").write_text("not listed: not a video suffix")
    return folder


def lines(path: Path) -> dict[str, dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == len({row["video"] for row in rows}), "one line per video"
    return {Path(row["video"]).name: row for row in rows}


def tagged(row: dict) -> set[tuple[str, float, float]]:
    return {(t["product_id"], s["start_s"], s["end_s"]) for t in row["result"]["tags"] for s in t["segments"]}


@pytest.mark.model
def test_tag_batch_writes_one_line_per_video_and_resumes_where_it_stopped(index, videos, tmp_path, capsys):
    out = tmp_path / "results.jsonl"
    assert shoptag("tag-batch", videos, "--index", index, "--out", out, "--workers", 2) == 0
    first = lines(out)
    assert set(first) == {"demo-1.mp4", "demo-2.mp4", "texture.mp4", "broken.mp4"}
    assert first["broken.mp4"]["error"]["code"] in ("undecodable_video", "bad_video")
    assert {p for p, _, _ in tagged(first["demo-1.mp4"])} == {"espresso-cup", "astronaut-poster"}
    assert tagged(first["demo-1.mp4"]) == tagged(first["demo-2.mp4"])
    assert first["texture.mp4"]["result"]["tags"] == []
    # The result is what `shoptag tag` prints for the video.
    capsys.readouterr()
    assert shoptag("tag", first["demo-1.mp4"]["video"], "--index", index) == 0
    assert json.loads(capsys.readouterr().out) == first["demo-1.mp4"]["result"]

    # Interrupted: one result kept, a torn last line; the failed video is tried again.
    kept = json.dumps(first["demo-1.mp4"]) + "\n"
    out.write_text(kept + json.dumps(first["broken.mp4"]) + "\n" + '{"video": "' + str(videos / "demo-2.mp4"))
    assert shoptag("tag-batch", videos, "--index", index, "--out", out, "--workers", 1) == 0
    again = lines(out)
    assert set(again) == set(first) and out.read_text().startswith(kept)
    assert again["demo-2.mp4"] == first["demo-2.mp4"] and again["texture.mp4"] == first["texture.mp4"]
    assert again["broken.mp4"]["error"] == first["broken.mp4"]["error"]


@pytest.mark.model
def test_a_manifest_lists_paths_relative_to_itself_and_refuses_what_is_no_list(index, videos, tmp_path):
    manifest = tmp_path / "videos.txt"
    relative = Path(os.path.relpath(videos, tmp_path))
    manifest.write_text(f"# listed twice, tagged once\n{relative / 'demo-1.mp4'}\n\n{videos / 'demo-1.mp4'}\n"
                        f"{videos / 'missing.mp4'}\n")
    out = tmp_path / "results.jsonl"
    assert shoptag("tag-batch", manifest, "--index", index, "--out", out) == 0
    rows = lines(out)
    assert set(rows) == {"demo-1.mp4", "missing.mp4"} and "error" in rows["missing.mp4"]
    (tmp_path / "empty.txt").write_text("# nothing\n")
    assert shoptag("tag-batch", tmp_path / "empty.txt", "--index", index, "--out", out) == 1
    assert shoptag("tag-batch", videos, "--index", index, "--out", out, "--engine", "spark") == 2


@pytest.mark.ray
def test_tag_batch_on_ray_writes_the_lines_the_in_process_engine_writes(ray_local, index, videos, tmp_path):
    process, on_ray = tmp_path / "process.jsonl", tmp_path / "ray.jsonl"
    assert shoptag("tag-batch", videos, "--index", index, "--out", process, "--workers", 2) == 0
    assert shoptag("tag-batch", videos, "--index", index, "--out", on_ray, "--engine", "ray", "--workers", 2) == 0
    assert lines(on_ray) == lines(process)


@pytest.mark.ray
def test_index_build_and_update_on_ray_write_the_index_the_in_process_engine_writes(ray_local, effnet, tmp_path):
    catalog = write_demo_catalog(tmp_path / "catalog")
    rows = [json.loads(line) for line in catalog.read_text().splitlines()]
    rows[1]["images"].append("missing.jpg")  # reported as skipped by both
    rows.append({**rows[0], "product_id": "cup-again", "title": "The same photo"})  # embedded once
    catalog.write_text("".join(json.dumps(row) + "\n" for row in rows))
    reports = {}
    for engine in ("process", "ray"):
        report = tmp_path / f"{engine}.json"
        assert shoptag("index", "build", catalog, "--index", tmp_path / engine, "--model", "effnet-lite0",
                       "--engine", engine, "--report", report) == 0
        reports[engine] = json.loads(report.read_text())
    assert reports["ray"]["skipped"] == reports["process"]["skipped"] != []
    assert same_index(tmp_path / "process", tmp_path / "ray", effnet)

    # An update: a product gone, one added with a new photo; the rest reused.
    rows = [row for row in rows if row["product_id"] != "cat-print"]
    rows.append({"product_id": "cat-print-2", "title": "Cat, again", "images": ["chelsea.jpg", "rocket.jpg"]})
    catalog.write_text("".join(json.dumps(row) + "\n" for row in rows))
    for engine in ("process", "ray"):
        report = tmp_path / f"{engine}-update.json"
        assert shoptag("index", "update", catalog, "--index", tmp_path / engine, "--engine", engine,
                       "--report", report) == 0
        reports[engine] = json.loads(report.read_text())
    ignored = ("version", "previous_version", "index", "seconds")
    assert {k: v for k, v in reports["ray"].items() if k not in ignored} == \
        {k: v for k, v in reports["process"].items() if k not in ignored}
    assert same_index(tmp_path / "process", tmp_path / "ray", effnet)


def same_index(first: Path, second: Path, embedder) -> bool:
    """The same version content: every manifest field but the version's own name, time, parent
    and segment list, and segment by segment the same files (hashes) and left-out products."""
    a, b = (CatalogIndex.load(folder, embedder) for folder in (first, second))
    different = {name for name in vars(a.manifest) if getattr(a.manifest, name) != getattr(b.manifest, name)}
    assert different <= {"version", "created", "parent", "files"}, different
    assert [(p.segment.files, p.removed) for p in a.placed] == \
        [(p.segment.files, p.removed) for p in b.placed]
    return True


def test_batch_settings_reach_workers_without_the_services_secrets():
    from shoptag.batch.portable import portable, settings_of

    settings = Settings(model=ModelSettings(spec="effnet-lite0", threads=1),
                        service={"api_keys": [{"key": "k" * 20, "role": "creator"}]},
                        shopify={"access_token": "shpat_secret_value"})
    sent = portable(settings)
    assert "shpat_secret_value" not in sent and "api_keys" not in sent
    assert settings_of(sent).model == settings.model


@pytest.mark.model
def test_a_video_that_ends_its_worker_fails_alone_and_the_batch_goes_on(index, tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    write_demo_video(videos / "demo.mp4")
    # OpenCV's FFmpeg reader crashes the process on a file name that is not UTF-8.
    shutil.copyfile(videos / "demo.mp4", Path(os.fsdecode(bytes(videos / "a") + b"\xff.mp4")))
    out = tmp_path / "results.jsonl"
    assert shoptag("tag-batch", videos, "--index", index, "--out", out, "--workers", 1) == 0
    rows = [json.loads(line) for line in out.read_text(errors="surrogateescape").splitlines()]
    outcome = {Path(row["video"]).name.startswith("a"): row for row in rows}
    assert outcome[True]["error"]["code"] == "worker_died" and "result" in outcome[False]


def test_tag_batch_refuses_an_out_file_that_holds_anything_else(index, tmp_path):
    other = tmp_path / "catalog.jsonl"
    text = '{"product_id": "mug", "title": "Mug", "images": ["mug.jpg"]}\n'
    other.write_text(text)
    write_test_video(tmp_path / "clip.mp4")
    assert shoptag("tag-batch", tmp_path, "--index", index, "--out", other) == 1
    assert other.read_text() == text


def test_a_results_file_in_use_is_refused_under_any_name(index, tmp_path, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    write_test_video(videos / "clip.mp4")
    out = tmp_path / "results.jsonl"
    (tmp_path / "link.jsonl").symlink_to(out)
    (tmp_path / "folder-link").symlink_to(tmp_path)
    running = plan_batch(videos, out, Settings())  # another run, holding the file
    try:
        for name in (tmp_path / "link.jsonl", tmp_path / "folder-link" / "results.jsonl",
                     tmp_path / "videos" / ".." / "results.jsonl"):
            assert shoptag("tag-batch", videos, "--index", index, "--out", name, "--workers", 1) == 1, name
            assert "is being written by another tag-batch run" in capsys.readouterr().err
    finally:
        running.results.release()
    assert not out.exists()


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):  # ended meanwhile
            continue
    return found


def _running(pid: int) -> bool:
    """Neither gone nor a zombie (an orphan waits for whichever process adopts it to reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@pytest.mark.model
@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="finds the workers in /proc")
def test_the_workers_of_a_killed_batch_end_with_it(index, tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    write_demo_video(videos / "demo-0.mp4")
    for number in range(1, 6):
        shutil.copyfile(videos / "demo-0.mp4", videos / f"demo-{number}.mp4")
    out = tmp_path / "results.jsonl"
    batch = subprocess.Popen([sys.executable, "-m", "shoptag.cli", "tag-batch", str(videos), "--index", str(index),
                              "--out", str(out), "--workers", "2"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 180
        while not (out.is_file() and out.read_text().count("\n") >= 1):  # loaded, tagging
            assert batch.poll() is None and time.monotonic() < deadline, "the batch ended or never tagged a video"
            time.sleep(0.1)
        workers = _children(batch.pid)
        assert len(workers) >= 2
        batch.send_signal(signal.SIGKILL)  # nothing of its own runs after this
        batch.wait()
        deadline = time.monotonic() + 5
        while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in workers if _running(pid)], "workers outlived their batch"
    finally:
        batch.kill()
        batch.wait()
        for pid in workers:  # what this test started, if a failure left it behind
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
