"""The generated Python client against a running gateway: insert, filter a list, and write with
If-Match from the listed `_version`, including the 412 a stale version gets."""

from convex_gateway_client import AuthenticatedClient, Client
from convex_gateway_client.api.tables import insert_documents, list_documents, patch_document
from convex_gateway_client.models import DocumentBody, ListDocumentsFilters, NewDocument, PatchDocumentBody, Problem


def test_the_generated_client_inserts_filters_and_writes_conditionally(gateway):
    url, token = gateway
    client = AuthenticatedClient(base_url=url, token=token)
    created = insert_documents.sync_detailed(
        "videos", client=client, body=NewDocument.from_dict({"twitchId": "2234567890", "status": "queued"})
    )
    assert created.status_code == 201

    filters = ListDocumentsFilters.from_dict({"twitchId": "eq.2234567890"})
    page = list_documents.sync("videos", client=client, filters=filters, limit=10)
    assert len(page.items) == 1, page
    video = page.items[0]
    assert video.field_version == 1
    assert video.additional_properties["twitchId"] == "2234567890"

    moved = patch_document.sync(
        "videos",
        video.field_id,
        client=client,
        body=PatchDocumentBody.from_dict({"status": "transcribing"}),
        if_match=f'"{video.field_version}"',
    )
    assert isinstance(moved, DocumentBody), moved
    assert moved.field_version == 2

    stale = patch_document.sync(
        "videos",
        video.field_id,
        client=client,
        body=PatchDocumentBody.from_dict({"status": "failed"}),
        if_match=f'"{video.field_version}"',
    )
    assert isinstance(stale, Problem)
    assert stale.code == "version_mismatch"

    anonymous = list_documents.sync_detailed("videos", client=Client(base_url=url))
    assert anonymous.status_code == 401
