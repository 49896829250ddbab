"""Exit codes and one-line errors of the shoptag command, through its real entry point."""

import json
import subprocess
import sys

import pytest

from shoptag.demo import write_demo_catalog

from conftest import write_test_video


def shoptag(*args, env=None):
    import os

    return subprocess.run([sys.executable, "-m", "shoptag.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=300, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    catalog = write_demo_catalog(folder / "catalog")
    done = shoptag("index", "build", catalog, "--out", folder / "index", "--model", "effnet-lite0")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["products"] == 4
    return folder / "index"


def test_usage_errors_exit_2():
    assert shoptag("tag").returncode == 2
    assert shoptag("index", "build", "x.jsonl", "--bogus").returncode == 2
    bad_env = shoptag("tag", "v.mp4", "--index", ".", env={"SHOPTAG_TAGGING__FPS": "-3"})
    assert bad_env.returncode == 2 and "tagging.fps" in bad_env.stderr


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"#EXTM3U\n#EXTINF:10,\nseg.ts\n", "EXTM3U"),
    (b"<html><body>hi</body></html>", "not a supported video container"),
    (b"\x00\x00\x00\x18ftypisom" + b"\x00" * 200, "cannot be opened|no decodable frames"),
])
def test_bad_videos_exit_1_with_one_line(tmp_path, index, content, message):
    video = tmp_path / "upload.mp4"
    video.write_bytes(content)
    done = shoptag("tag", video, "--index", index)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("shoptag: error:")
    assert any(m in done.stderr for m in message.split("|"))


def test_tag_prints_the_documented_json(tmp_path, index):
    done = shoptag("tag", write_test_video(tmp_path / "noise.mp4"), "--index", index, "--fps", "4")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) == {"video", "duration_s", "width", "height", "model", "index", "frames_sampled",
                           "frames_skipped", "tags"}
    assert result["model"].startswith("effnet-lite0@") and result["frames_sampled"] == 12
    assert (result["width"], result["height"]) == (160, 120)
    assert set(result["index"]) == {"path", "created", "version"}


def test_model_index_mismatch_and_missing_index(tmp_path, index):
    video = write_test_video(tmp_path / "v.mp4")
    done = shoptag("tag", video, "--index", index, "--model", "openclip:ViT-B-32:openai",
                   env={"SHOPTAG_MODEL__ALLOW_DOWNLOAD": "false"})
    assert done.returncode == 1 and "not cached" in done.stderr
    missing = shoptag("tag", video, "--index", tmp_path / "nope")
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    debug = shoptag("--debug", "tag", video, "--index", tmp_path / "nope")
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_catalog_with_nothing_indexable_fails_cleanly(tmp_path):
    catalog = tmp_path / "c.jsonl"
    catalog.write_text(json.dumps({"product_id": "x", "title": "X", "images": ["missing.jpg"]}) + "\n")
    done = shoptag("index", "build", catalog, "--out", tmp_path / "index", "--model", "effnet-lite0")
    assert done.returncode == 1 and "nothing could be indexed" in done.stderr
    assert not (tmp_path / "index").exists()
