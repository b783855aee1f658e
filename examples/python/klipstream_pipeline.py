"""KlipStream's pipeline step, through the gateway with the generated Python client.

Each stage finds its video by Twitch id (a string of digits: `twitchId=eq.2234567890` matches
it), then moves it to the next status with `If-Match` set to the listed `_version`. When another
worker changed the video in between, the gateway answers 412; the step reads the video again and
retries, so no update is lost and none is applied twice.

    GATEWAY_URL=http://127.0.0.1:8080 GATEWAY_TOKEN=… python klipstream_pipeline.py 2234567890
"""

from __future__ import annotations

import os
import sys
from typing import Callable

from convex_gateway_client import AuthenticatedClient
from convex_gateway_client.api.tables import insert_documents, list_documents, patch_document
from convex_gateway_client.models import (
    DocumentBody,
    ListDocumentsFilters,
    NewDocument,
    PatchDocumentBody,
    Problem,
)

STATUSES = ["queued", "downloading", "transcribing", "analyzing", "completed"]


class PipelineError(RuntimeError):
    """The gateway refused a step for a reason a retry cannot fix."""


def find_video(client: AuthenticatedClient, twitch_id: str) -> DocumentBody | None:
    page = list_documents.sync(
        "videos", client=client, filters=ListDocumentsFilters.from_dict({"twitchId": f"eq.{twitch_id}"}), limit=1
    )
    if isinstance(page, Problem) or page is None:
        raise PipelineError(f"listing videos failed: {page}")
    return page.items[0] if page.items else None


def ensure_video(client: AuthenticatedClient, twitch_id: str, title: str) -> DocumentBody:
    video = find_video(client, twitch_id)
    if video is not None:
        return video
    created = insert_documents.sync(
        "videos", client=client, body=NewDocument.from_dict({"twitchId": twitch_id, "title": title, "status": "queued"})
    )
    if not isinstance(created, DocumentBody):
        raise PipelineError(f"creating video {twitch_id} failed: {created}")
    return created


def advance(
    client: AuthenticatedClient,
    twitch_id: str,
    status: str,
    *,
    attempts: int = 5,
    before_write: Callable[[DocumentBody], None] | None = None,
    **urls: str,
) -> DocumentBody:
    """Moves the video to `status` (setting any output URLs), retrying after a 412."""
    for _ in range(attempts):
        video = find_video(client, twitch_id)
        if video is None:
            raise PipelineError(f"no video {twitch_id}")
        if before_write is not None:
            before_write(video)
        answer = patch_document.sync(
            "videos",
            video.field_id,
            client=client,
            body=PatchDocumentBody.from_dict({"status": status, **urls}),
            if_match=f'"{video.field_version}"',
        )
        if isinstance(answer, DocumentBody):
            return answer
        if isinstance(answer, Problem) and answer.code == "version_mismatch":
            continue  # Someone else wrote first: read the video again.
        raise PipelineError(f"moving {twitch_id} to {status} failed: {answer}")
    raise PipelineError(f"{twitch_id} kept changing; gave up after {attempts} attempts")


def run(url: str, token: str, twitch_id: str) -> DocumentBody:
    client = AuthenticatedClient(base_url=url, token=token)
    ensure_video(client, twitch_id, f"VOD {twitch_id}")
    video = None
    for status in STATUSES[1:]:
        urls = {"transcriptUrl": f"gs://klipstream/{twitch_id}/transcript.json"} if status == "analyzing" else {}
        video = advance(client, twitch_id, status, **urls)
    assert video is not None
    return video


if __name__ == "__main__":
    done = run(os.environ["GATEWAY_URL"], os.environ["GATEWAY_TOKEN"], sys.argv[1] if len(sys.argv) > 1 else "2234567890")
    print(f"{done.additional_properties['twitchId']}: {done.additional_properties['status']} (version {done.field_version})")
