"""Exit codes and one-line errors of the shoptag command, through its real entry point."""

import json
import shutil
import subprocess
import sys

import pytest

from shoptag.api import server as shoptag_server
from shoptag.cli.main import main
from shoptag.demo import write_demo_catalog
from shoptag.indexing.manifest import Manifest
from shoptag.indexing.versions import IndexFolder

from helpers.media import write_test_video


def shoptag(*args, env=None):
    import os

    return subprocess.run([sys.executable, "-m", "shoptag.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=300, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    catalog = write_demo_catalog(folder / "catalog")
    done = shoptag("index", "build", catalog, "--index", folder / "index", "--model", "effnet-lite0")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["products"] == 4
    return folder / "index"


def test_usage_errors_exit_2():
    assert shoptag("tag").returncode == 2
    assert shoptag("index", "build", "x.jsonl", "--bogus").returncode == 2
    bad_env = shoptag("tag", "v.mp4", "--index", ".", env={"SHOPTAG_TAGGING__FPS": "-3"})
    assert bad_env.returncode == 2 and "tagging.fps" in bad_env.stderr
    # A flag meets the same bounds as the variable.
    bad_flag = shoptag("tag", "v.mp4", "--index", ".", "--top-k", "0", env={"SHOPTAG_TAGGING__FPS": "4"})
    assert bad_flag.returncode == 2 and "tagging.top_k" in bad_flag.stderr
    assert shoptag("index", "build", "x.jsonl").returncode == 2  # no --index


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
    assert set(result) == {"video", "duration_s", "width", "height", "model", "profile", "index", "frames_sampled",
                           "frames_skipped", "tags"}
    assert result["profile"] == "default"
    assert result["model"].startswith("effnet-lite0:onnx-fp32@") and result["frames_sampled"] == 12
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
    # `--out`, the old spelling of `--index`, still works (hidden).
    done = shoptag("index", "build", catalog, "--out", tmp_path / "index", "--model", "effnet-lite0")
    assert done.returncode == 1 and "nothing could be indexed" in done.stderr
    assert not (tmp_path / "index").exists()


def test_every_index_command_takes_index_and_the_old_positional_folder_still_works(index, tmp_path):
    for command in ("verify", "stats"):
        new, old = shoptag("index", command, "--index", index), shoptag("index", command, index)
        assert new.returncode == old.returncode == 0, new.stderr + old.stderr
        assert new.stderr == old.stderr == ""
        assert json.loads(new.stdout)["index"] == json.loads(old.stdout)["index"] == str(index)
    for spelling in (["--index", index], [index]):
        rolled = shoptag("index", "rollback", *spelling)  # one version: nothing to roll back to
        assert rolled.returncode == 1 and "no kept previous version" in rolled.stderr
    assert shoptag("index", "verify").returncode == 2
    assert shoptag("index", "verify", index, "--index", tmp_path).returncode == 2
    for command in ("build", "update", "rollback", "verify", "stats"):
        usage = shoptag("index", command, "--help")
        assert usage.returncode == 0 and "--index" in usage.stdout and "--out" not in usage.stdout
        assert "old_index" not in usage.stdout.lower()


def test_index_update_honours_the_index_type_variable_like_build(index, tmp_path):
    copy = tmp_path / "index"
    shutil.copytree(index, copy, symlinks=True)
    catalog = write_demo_catalog(tmp_path / "catalog")

    def current_type():
        return Manifest.read(IndexFolder(copy).current_dir()).index_type

    assert current_type() == "flat"  # auto, for 4 products
    done = shoptag("index", "update", catalog, "--index", copy, env={"SHOPTAG_INDEX__TYPE": "hnsw"})
    assert done.returncode == 0, done.stderr
    assert current_type() == "hnsw"
    done = shoptag("index", "update", catalog, "--index", copy, "--index-type", "flat",
                   env={"SHOPTAG_INDEX__TYPE": "hnsw"})
    assert done.returncode == 0, done.stderr
    assert current_type() == "flat"  # the flag over the variable
    done = shoptag("index", "update", catalog, "--index", copy)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert current_type() == "flat" and report["version"] == report["previous_version"]  # neither: kept


def test_serve_worker_threads_and_its_old_spelling(index, monkeypatch):
    served = []
    # The command's own parsing and settings, up to the edge where a network server would start.
    monkeypatch.setattr(shoptag_server, "serve", served.append)
    for flags in (["--worker-threads", "3"], ["--workers", "2"], ["--workers", "2", "--worker-threads", "2"]):
        assert main(["serve", "--index", str(index), *flags]) == 0
    monkeypatch.setenv("SHOPTAG_SERVICE__WORKERS", "4")
    monkeypatch.setenv("SHOPTAG_SERVICE__QUEUE_SIZE", "7")
    assert main(["serve", "--index", str(index)]) == 0
    assert main(["serve", "--index", str(index), "--worker-threads", "5"]) == 0
    assert [s.service.workers for s in served] == [3, 2, 2, 4, 5]
    assert served[-1].service.queue_size == 7  # a flag for one field keeps the environment's others
    assert main(["serve", "--index", str(index), "--workers", "2", "--worker-threads", "3"]) == 2
    assert main(["serve", "--index", str(index), "--worker-threads", "0"]) == 2
    assert len(served) == 5
    usage = shoptag("serve", "--help").stdout
    assert "--worker-threads" in usage and "--workers " not in usage


def test_index_commands_name_a_catalog_of_a_data_folder(index, tmp_path):
    data = tmp_path / "data"
    catalog = write_demo_catalog(tmp_path / "catalog")
    built = shoptag("index", "build", catalog, "--data", data, "--name", "shop-a", "--model", "effnet-lite0")
    assert built.returncode == 0, built.stderr
    assert json.loads(built.stdout)["index"] == str(data / "shop-a")
    checked = shoptag("index", "verify", "--data", data, "--name", "shop-a")
    assert checked.returncode == 0 and json.loads(checked.stdout)["ok"], checked.stderr
    for bad in (["--data", data, "--name", "../shop-a"], ["--data", data, "--name", "Shop A"]):
        refused = shoptag("index", "verify", *bad)
        assert refused.returncode == 2 and "not a catalog name" in refused.stderr
    assert shoptag("index", "verify", "--data", data).returncode == 2  # --name too
    assert shoptag("index", "verify", "--index", index, "--data", data, "--name", "shop-a").returncode == 2
