"""The tag JSON has one definition (tagging.results): the CLI prints it, the service returns
and documents it, jobs store and read it back."""

import json
from pathlib import Path

from shoptag.api import create_app
from shoptag.cli.main import main
from shoptag.settings import Settings
from shoptag.tagging import Alternative, IndexRef, ProductTag, Segment, TagResult
from shoptag.tagging.results import tag_result_schema

RESULT = TagResult(
    video="clip.mp4", duration_s=7.6000001, width=640, height=360, model="effnet-lite0:onnx-fp32@abc",
    index=IndexRef(path="/srv/index", created="2026-12-01T00:00:00", version="v1"),
    frames_sampled=16, frames_skipped=1,
    tags=[ProductTag(product_id="mug", title="Mug", url=None, score=0.812345, alternatives=[
        Alternative(product_id="mug-red", title="Red mug")], segments=[
        Segment(start_s=0.25, end_s=3.7500004, score=0.812345, evidence="geometry", best_frame_s=1.5,
                bbox=(10, 20, 30, 40), track=[(1.0000004, 12, 20, 30, 40), (1.5, 10, 20, 30, 40)], hits=7)])],
    skip_reasons={"dark": 1}, stage_seconds={"embed": 1.0})


def test_the_json_carries_rounded_values_and_no_in_process_fields():
    shown = RESULT.model_dump(mode="json")
    assert shown["duration_s"] == 7.6 and shown["index"]["path"] == "/srv/index"
    segment = shown["tags"][0]["segments"][0]
    assert segment == {"start_s": 0.25, "end_s": 3.75, "score": 0.8123, "evidence": "geometry",
                       "uncertain": False, "best_frame_s": 1.5, "bbox": [10, 20, 30, 40],
                       "track": [[1.0, 12, 20, 30, 40], [1.5, 10, 20, 30, 40]]}
    assert "skip_reasons" not in shown and "stage_seconds" not in shown and "hits" not in segment
    assert shown["tags"][0]["url"] is None  # absent values are null, not missing


def test_the_served_result_leaves_out_the_server_folder_and_reads_back():
    served = RESULT.as_served().model_dump(mode="json")
    assert served["index"] == {"created": "2026-12-01T00:00:00", "version": "v1"}
    again = TagResult.model_validate_json(json.dumps(served))  # as a job's stored result is read
    assert again.model_dump(mode="json") == served


def test_the_committed_json_schema_is_the_models_own(capsys):
    assert main(["schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    committed = json.loads((Path(__file__).parents[1] / "schemas" / "tag-result.json").read_text())
    assert committed == printed == tag_result_schema(), "regenerate it: shoptag schema > schemas/tag-result.json"


def test_openapi_documents_the_same_model(tmp_path):
    # Building the app opens nothing: no state folder, no index, no model.
    app = create_app(Settings(service={"index": tmp_path / "no-index"}))
    document = app.openapi()
    answer = document["paths"]["/v1/tags"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/TagResult"}
    segment = document["components"]["schemas"]["Segment"]["properties"]
    assert list(segment) == list(tag_result_schema()["$defs"]["Segment"]["properties"])
    assert not (tmp_path / "no-index.state").exists()
