"""Settings: flags over the environment through pydantic-settings, the fetch cache's default,
and the one list of tagging settings applied after a scan."""

import sys
from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from shoptag.cli.common import settings_from
from shoptag.evaluation.run import Evaluator
from shoptag.indexing.fetch import HttpFetcher
from shoptag.indexing.images import ImageReader
from shoptag.settings import FetchSettings, ImageLimits, Settings, TaggingSettings, VideoLimits


def test_a_flag_for_one_field_keeps_the_environment_values_of_the_others(monkeypatch):
    monkeypatch.setenv("SHOPTAG_TAGGING__FPS", "3")
    monkeypatch.setenv("SHOPTAG_TAGGING__TOP_K", "7")
    monkeypatch.setenv("SHOPTAG_MODEL__SPEC", "effnet-lite0")
    settings = settings_from(None, 2, tagging={"fps": 4.0, "threshold": None})
    assert (settings.tagging.fps, settings.tagging.top_k, settings.tagging.threshold) == (4.0, 7, None)
    assert (settings.model.spec, settings.model.threads) == ("effnet-lite0", 2)
    # A whole section as JSON merges the same way.
    monkeypatch.setenv("SHOPTAG_INDEX", '{"type": "hnsw", "keep": 5}')
    settings = settings_from(None, None, index={"keep": 2, "type": None})
    assert (settings.index.type, settings.index.keep) == ("hnsw", 2)
    assert settings_from().tagging == Settings().tagging


def test_flag_values_meet_the_bounds_of_environment_values(monkeypatch):
    for sections, where in (({"tagging": {"fps": -1.0}}, ("tagging", "fps")),
                            ({"service": {"workers": 0}}, ("service", "workers")),
                            ({"index": {"type": "fast"}}, ("index", "type"))):
        with pytest.raises(ValidationError) as error:
            settings_from(None, None, **sections)
        assert error.value.errors()[0]["loc"] == where
    with pytest.raises(ValidationError):
        settings_from(None, -1)


def test_the_fetch_cache_defaults_to_the_user_cache_folder_and_is_made_only_when_used(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert FetchSettings().cache_dir == tmp_path / "xdg" / "shoptag" / "downloads"
    # Settings, and so the service, get it too, computed when they are made.
    settings = Settings()
    assert settings.fetch.cache_dir == FetchSettings().cache_dir
    HttpFetcher(settings.fetch, 1000)
    (tmp_path / "a.png").write_bytes(b"x")
    ImageReader(ImageLimits(), settings.fetch).read("a.png", tmp_path)
    assert not (tmp_path / "xdg").exists()  # nothing was downloaded, so no folder
    monkeypatch.setenv("SHOPTAG_FETCH__CACHE_DIR", str(tmp_path / "mine"))
    assert Settings().fetch.cache_dir == tmp_path / "mine"
    assert settings_from(None, None, fetch={"cache_dir": tmp_path / "flag"}).fetch.cache_dir == tmp_path / "flag"
    assert FetchSettings(cache_dir=None).cache_dir is None  # code may still keep no cache
    monkeypatch.setenv("SHOPTAG_FETCH__CACHE_DIR", "")  # and so may a user
    assert Settings().fetch.cache_dir is None


def test_the_settings_applied_after_a_scan_are_marked_on_the_fields_and_key_the_scans(monkeypatch):
    after = TaggingSettings.after_scan_names()
    assert after < set(TaggingSettings.model_fields)
    assert {"threshold", "min_hits", "include_uncertain", "alternative_similarity"} <= after
    assert not after & {"fps", "top_k", "verify", "min_inliers", "region_pooling", "track", "align"}
    scanned = []
    tagger = SimpleNamespace(scan=lambda video: scanned.append(video) or SimpleNamespace())
    evaluator = Evaluator(None, None, VideoLimits())
    monkeypatch.setattr(evaluator, "tagger", lambda settings: tagger)
    videos = [SimpleNamespace(video=SimpleNamespace(name="a.mp4"))]
    for update in ({}, {name: TaggingSettings.model_fields[name].default for name in after} | {"threshold": 0.5},
                   {"min_hits": 4, "include_uncertain": True}, {"top_k": 9}, {"fps": 1.0}):
        evaluator.scans(videos, TaggingSettings().model_copy(update=update))
    assert len(scanned) == 3  # the default scan, then top_k, then fps
