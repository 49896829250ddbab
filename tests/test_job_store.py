"""The SQLite job store: ownership, idempotency, order, failure, and surviving a restart."""

import sqlite3
from pathlib import Path

import pytest

from shoptag.api.jobs import JobStore
from shoptag.api.schemas import JobOut, JobProgress
from shoptag.errors import ConfigError, IdempotencyConflictError, NotFoundError
from shoptag.tagging import IndexRef, TagResult

NO_TAGS = TagResult(video="a.mp4", duration_s=1.0, width=64, height=48, model="m",
                    index=IndexRef(created="2026-01-01", version="v1"), frames_sampled=2, frames_skipped=0, tags=[])


def test_jobs_are_claimed_oldest_first_and_finish(tmp_path):
    store = JobStore(tmp_path / "jobs.db")
    first, created = store.create("alice", None, "fp1", "a.mp4", Path("/x/a"), {"fps": 2})
    second, _ = store.create("alice", None, "fp2", "b.mp4", Path("/x/b"), {})
    assert created and first.status == "queued" and store.count("queued") == 2
    assert store.claim_next().id == first.id
    assert store.claim_next().id == second.id
    assert store.claim_next() is None
    store.succeed(first.id, NO_TAGS)
    store.fail(second.id, "undecodable_video", "broken")
    done = JobOut.of(store.get(first.id, "alice"))
    assert done.result == NO_TAGS and "error" not in done.model_dump(mode="json")
    failed = JobOut.of(store.get(second.id, "alice")).model_dump(mode="json")
    assert failed["status"] == "failed" and "result" not in failed
    assert failed["error"] == {"code": "undecodable_video", "message": "broken"}
    assert store.get(first.id, "alice").params == {"fps": 2}


def test_another_owner_cannot_see_a_job(tmp_path):
    store = JobStore(tmp_path / "jobs.db")
    job, _ = store.create("alice", None, "fp", "a.mp4", Path("/x/a"), {})
    with pytest.raises(NotFoundError):
        store.get(job.id, "bob")


def test_idempotency_keys_are_per_owner_and_bound_to_the_request(tmp_path):
    store = JobStore(tmp_path / "jobs.db")
    job, created = store.create("alice", "k1", "fp", "a.mp4", Path("/x/a"), {})
    again, created_again = store.create("alice", "k1", "fp", "a.mp4", Path("/x/b"), {})
    assert created and not created_again and again.id == job.id and again.upload == Path("/x/a")
    assert store.create("bob", "k1", "fp", "a.mp4", Path("/x/c"), {})[1]
    with pytest.raises(IdempotencyConflictError):
        store.create("alice", "k1", "other", "a.mp4", Path("/x/d"), {})
    assert store.count("queued") == 2


def test_jobs_survive_a_restart_and_interrupted_ones_run_again(tmp_path):
    store = JobStore(tmp_path / "jobs.db")
    job, _ = store.create("alice", None, "fp", "a.mp4", Path("/x/a"), {})
    store.claim_next()  # the service stops while this job runs
    reopened = JobStore(tmp_path / "jobs.db")
    assert reopened.get(job.id, "alice").status == "running"
    assert reopened.requeue_interrupted() == 1
    assert reopened.claim_next().id == job.id


def test_a_newer_database_schema_is_refused(tmp_path):
    path = tmp_path / "jobs.db"
    JobStore(path)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(ConfigError, match="schema 99"):
        JobStore(path)


def test_find_returns_the_job_of_an_idempotency_key(tmp_path):
    store = JobStore(tmp_path / "jobs.db")
    job, _ = store.create("alice", "k1", "fp", "a.mp4", Path("/x/a"), {})
    assert store.find("alice", "k1").id == job.id
    assert store.find("bob", "k1") is None and store.find("alice", "k2") is None


def test_progress_follows_the_job(tmp_path):
    store = JobStore(tmp_path / "jobs.db")
    job, _ = store.create("alice", None, "fp", "a.mp4", Path("/x/a"), {})
    assert JobProgress.of(job) == JobProgress(stage="queued")
    running = store.claim_next()
    assert JobProgress.of(running) == JobProgress(stage="tagging")
    # Past the header's estimate, the total follows the frames done.
    assert JobProgress.of(running, (7, 5)).model_dump() == {"stage": "tagging", "frames_done": 7, "frames_total": 7}
    store.succeed(job.id, NO_TAGS)
    assert JobProgress.of(store.get(job.id, "alice")).model_dump() == {
        "stage": "done", "frames_done": 2, "frames_total": 2}


def test_videos_are_forgotten_when_no_job_needs_them(tmp_path):
    store = JobStore(tmp_path / "jobs.db")
    kept, _ = store.create("alice", None, "fp1", "a.mp4", Path("/x/a"), {})
    failed, _ = store.create("alice", None, "fp2", "b.mp4", Path("/x/b"), {})
    queued, _ = store.create("alice", None, "fp3", "c.mp4", Path("/x/c"), {})
    store.claim_next(), store.claim_next()
    store.succeed(kept.id, NO_TAGS)
    store.fail(failed.id, "bad_video", "broken")
    assert store.expire_uploads(keep_succeeded_s=3600) == [Path("/x/b")]
    assert store.get(failed.id, "alice").upload is None and store.get(kept.id, "alice").upload == Path("/x/a")
    assert store.expire_uploads(keep_succeeded_s=0) == [Path("/x/a")]
    assert store.get(queued.id, "alice").upload == Path("/x/c")
    assert store.expire_uploads(keep_succeeded_s=0) == []


def test_kept_videos_are_listed_newest_first_and_can_be_forgotten(tmp_path):
    store = JobStore(tmp_path / "jobs.db")
    for name in ("a", "b", "c"):
        store.create("alice", None, f"fp-{name}", f"{name}.mp4", Path(f"/x/{name}"), {})
        store.succeed(store.claim_next().id, NO_TAGS)
    assert store.kept_uploads() == [Path("/x/c"), Path("/x/b"), Path("/x/a")]
    store.forget_uploads([Path("/x/a")])
    assert store.kept_uploads() == [Path("/x/c"), Path("/x/b")]
