"""The Python examples (examples/python) run against a real gateway: the KlipStream pipeline,
including its recovery from a 412, and the seed's Flask route."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "examples" / "python"))

import flask_app  # noqa: E402
import klipstream_pipeline  # noqa: E402
from convex_gateway_client import AuthenticatedClient  # noqa: E402
from convex_gateway_client.api.tables import insert_documents, patch_document  # noqa: E402
from convex_gateway_client.models import NewDocument, PatchDocumentBody  # noqa: E402


def test_the_klipstream_pipeline_moves_a_video_through_its_statuses(gateway):
    url, token = gateway
    done = klipstream_pipeline.run(url, token, "2234567890")
    assert done.additional_properties["status"] == "completed"
    assert done.additional_properties["transcriptUrl"].endswith("transcript.json")
    # One insert, then one write per status: nothing was applied twice.
    assert done.field_version == len(klipstream_pipeline.STATUSES)


def test_a_step_that_loses_a_race_reads_again_and_retries(gateway):
    url, token = gateway
    client = AuthenticatedClient(base_url=url, token=token)
    klipstream_pipeline.ensure_video(client, "777", "raced")
    raced = []

    def another_worker_writes_first(video):
        if not raced:
            raced.append(video.field_version)
            patch_document.sync(
                "videos", video.field_id, client=client, body=PatchDocumentBody.from_dict({"title": "renamed"})
            )

    moved = klipstream_pipeline.advance(client, "777", "downloading", before_write=another_worker_writes_first)
    assert raced == [1]
    assert moved.additional_properties["status"] == "downloading"
    assert moved.additional_properties["title"] == "renamed", "the other worker's write is kept"
    assert moved.field_version == 3


def test_the_flask_route_forwards_the_callers_token_and_problems(gateway):
    url, token = gateway
    client = AuthenticatedClient(base_url=url, token=token)
    for name, formula in [("Water", "H2O"), ("Salt", "NaCl")]:
        insert_documents.sync("molecules", client=client, body=NewDocument.from_dict({"name": name, "formula": formula}))
    app = flask_app.create_app(url).test_client()
    auth = {"Authorization": f"Bearer {token}"}
    listed = app.get("/api/molecules?formula=eq.H2O", headers=auth)
    assert listed.status_code == 200
    assert [m["name"] for m in listed.get_json()] == ["Water"]
    assert app.get("/api/molecules").status_code == 401
    refused = app.get("/api/molecules", headers={"Authorization": "Bearer not-a-jwt"})
    assert refused.status_code == 401
    assert refused.get_json()["code"] == "malformed_token"
    bad = app.get("/api/molecules?formula=approx.H2O", headers=auth)
    assert bad.status_code == 400
    assert bad.get_json()["code"] == "invalid_filter"
