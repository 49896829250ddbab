"""Reviews exported as annotations (`shoptag feedback export`) when a job searched several
catalogs that share product ids: each appearance keeps its catalog, and `shoptag eval` scores it
for that catalog only."""

import json
import subprocess
import sys

from shoptag.cli.main import main
from shoptag.demo import write_demo_video
from shoptag.evaluation.annotations import load_annotations
from shoptag.settings import ModelSettings, Settings

from helpers.api import bearer, make_index, running_app, wait_for_job

CREATOR = "creator-ab-key-0123456789"
KEYS = [{"key": CREATOR, "role": "creator", "catalogs": ["shop-a", "shop-b"]}]


def test_a_product_added_from_another_catalog_is_that_catalogs_in_the_export_and_in_eval(tmp_path, effnet):
    data = tmp_path / "data"
    data.mkdir()
    # Both catalogs have the rocket poster under the same id; shop-b has no espresso cup.
    for name, left_out in (("shop-a", "astronaut-poster"), ("shop-b", "espresso-cup")):
        make_index(tmp_path / name, effnet, leave_out=(left_out,)).rename(data / name)
    write_demo_video(tmp_path / "demo.mp4")
    settings = Settings(model=ModelSettings(spec="effnet-lite0"),
                        service={"data_dir": data, "state_dir": tmp_path / "state", "api_keys": KEYS,
                                 "job_video_retention_s": 3600})
    headers = bearer(CREATOR)
    with running_app(settings, effnet) as client:
        job = client.post("/v1/jobs", files={"file": ("demo.mp4", (tmp_path / "demo.mp4").read_bytes())},
                          data={"catalogs": "shop-a,shop-b"}, headers=headers)
        assert job.status_code == 202, job.text
        done = wait_for_job(client, job.json()["id"], headers)
        assert done["status"] == "succeeded", done
        decisions = [{"product_id": t["product_id"], "catalog": t["catalog"], "verdict": "accepted",
                      "segments": [{"start_s": s["start_s"], "end_s": s["end_s"]} for s in t["segments"]]}
                     for t in done["result"]["tags"]]
        assert ("shop-b", "rocket-poster") not in {(d["catalog"], d["product_id"]) for d in decisions}
        decisions.append({"product_id": "rocket-poster", "catalog": "shop-b", "verdict": "added",
                          "segments": [{"start_s": 1.0, "end_s": 2.5}]})
        saved = client.put(f"/v1/jobs/{done['id']}/review", json={"revision": 0, "decisions": decisions},
                           headers=headers)
        assert saved.status_code == 200, saved.text
    out = tmp_path / "feedback.json"
    assert main(["feedback", "export", "--state-dir", str(tmp_path / "state"), "--out", str(out)]) == 0
    (exported,) = json.loads(out.read_text())["videos"]
    assert {"product_id": "rocket-poster", "start_s": 1.0, "end_s": 2.5, "catalog": "shop-b"} in \
        exported["appearances"]
    # The export is truth for each catalog: shop-b's rocket poster is not shop-a's.
    (of_a,) = load_annotations(out, catalog="shop-a")
    (of_b,) = load_annotations(out, catalog="shop-b")
    assert "rocket-poster" not in {a.product_id for a in of_a.appearances}
    assert ("rocket-poster", 1.0, 2.5) in {(a.product_id, a.start_s, a.end_s) for a in of_b.appearances}
    evaluated = subprocess.run([sys.executable, "-m", "shoptag.cli", "eval", "--index", str(data / "shop-a"),
                                "--annotations", str(out), "--out", str(tmp_path / "eval")],
                               capture_output=True, text=True, timeout=600)
    assert evaluated.returncode == 0, evaluated.stderr
    per_product = json.loads((tmp_path / "eval" / "metrics.json").read_text())["per_product"]
    assert "rocket-poster" not in per_product  # before: a miss of shop-a's rocket poster
    # A copy of an index under a name the export does not use is no catalog of it: refused.
    (data / "shop-a").rename(data / "elsewhere")
    refused = subprocess.run([sys.executable, "-m", "shoptag.cli", "eval", "--index", str(data / "elsewhere"),
                              "--annotations", str(out), "--out", str(tmp_path / "eval2")],
                             capture_output=True, text=True, timeout=600)
    assert refused.returncode != 0 and "are of catalog(s) shop-a, shop-b, not 'elsewhere'" in refused.stderr
