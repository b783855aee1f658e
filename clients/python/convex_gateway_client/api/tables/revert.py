from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.document_body import DocumentBody
from ...models.problem import Problem
from ...models.receipt import Receipt
from ...models.revert_request import RevertRequest
from ...types import UNSET, Unset
from typing import cast



def _get_kwargs(
    table: str,
    id: str,
    *,
    body: RevertRequest,
    if_match: None | str | Unset = UNSET,
    prefer: None | str | Unset = UNSET,

) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(if_match, Unset):
        headers["If-Match"] = if_match

    if not isinstance(prefer, Unset):
        headers["Prefer"] = prefer



    

    

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/tables/{table}/{id}/revert".format(table=quote(str(table), safe=""),id=quote(str(id), safe=""),),
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> DocumentBody | Problem | Receipt | None:
    if response.status_code == 200:
        response_200 = DocumentBody.from_dict(response.json())



        return response_200

    if response.status_code == 201:
        response_201 = DocumentBody.from_dict(response.json())



        return response_201

    if response.status_code == 202:
        response_202 = Receipt.from_dict(response.json())



        return response_202

    if response.status_code == 400:
        response_400 = Problem.from_dict(response.json())



        return response_400

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())



        return response_401

    if response.status_code == 403:
        response_403 = Problem.from_dict(response.json())



        return response_403

    if response.status_code == 404:
        response_404 = Problem.from_dict(response.json())



        return response_404

    if response.status_code == 409:
        response_409 = Problem.from_dict(response.json())



        return response_409

    if response.status_code == 412:
        response_412 = Problem.from_dict(response.json())



        return response_412

    if response.status_code == 415:
        response_415 = Problem.from_dict(response.json())



        return response_415

    if response.status_code == 422:
        response_422 = Problem.from_dict(response.json())



        return response_422

    if response.status_code == 503:
        response_503 = Problem.from_dict(response.json())



        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[DocumentBody | Problem | Receipt]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    table: str,
    id: str,
    *,
    client: AuthenticatedClient,
    body: RevertRequest,
    if_match: None | str | Unset = UNSET,
    prefer: None | str | Unset = UNSET,

) -> Response[DocumentBody | Problem | Receipt]:
    """ Revert a document to an earlier version.

     Writes version `version`'s fields back as a new version, recorded as `revert`. A write: it
    needs write access, honours `If-Match`, and takes `Prefer: tx=rollback`. A deleted document
    comes back as a new document (`201`, a new `_id`, `Location`).

    Args:
        table (str):
        id (str):
        if_match (None | str | Unset):
        prefer (None | str | Unset):
        body (RevertRequest): Which version to write back.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[DocumentBody | Problem | Receipt]
     """


    kwargs = _get_kwargs(
        table=table,
id=id,
body=body,
if_match=if_match,
prefer=prefer,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    table: str,
    id: str,
    *,
    client: AuthenticatedClient,
    body: RevertRequest,
    if_match: None | str | Unset = UNSET,
    prefer: None | str | Unset = UNSET,

) -> DocumentBody | Problem | Receipt | None:
    """ Revert a document to an earlier version.

     Writes version `version`'s fields back as a new version, recorded as `revert`. A write: it
    needs write access, honours `If-Match`, and takes `Prefer: tx=rollback`. A deleted document
    comes back as a new document (`201`, a new `_id`, `Location`).

    Args:
        table (str):
        id (str):
        if_match (None | str | Unset):
        prefer (None | str | Unset):
        body (RevertRequest): Which version to write back.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        DocumentBody | Problem | Receipt
     """


    return sync_detailed(
        table=table,
id=id,
client=client,
body=body,
if_match=if_match,
prefer=prefer,

    ).parsed

async def asyncio_detailed(
    table: str,
    id: str,
    *,
    client: AuthenticatedClient,
    body: RevertRequest,
    if_match: None | str | Unset = UNSET,
    prefer: None | str | Unset = UNSET,

) -> Response[DocumentBody | Problem | Receipt]:
    """ Revert a document to an earlier version.

     Writes version `version`'s fields back as a new version, recorded as `revert`. A write: it
    needs write access, honours `If-Match`, and takes `Prefer: tx=rollback`. A deleted document
    comes back as a new document (`201`, a new `_id`, `Location`).

    Args:
        table (str):
        id (str):
        if_match (None | str | Unset):
        prefer (None | str | Unset):
        body (RevertRequest): Which version to write back.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[DocumentBody | Problem | Receipt]
     """


    kwargs = _get_kwargs(
        table=table,
id=id,
body=body,
if_match=if_match,
prefer=prefer,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    table: str,
    id: str,
    *,
    client: AuthenticatedClient,
    body: RevertRequest,
    if_match: None | str | Unset = UNSET,
    prefer: None | str | Unset = UNSET,

) -> DocumentBody | Problem | Receipt | None:
    """ Revert a document to an earlier version.

     Writes version `version`'s fields back as a new version, recorded as `revert`. A write: it
    needs write access, honours `If-Match`, and takes `Prefer: tx=rollback`. A deleted document
    comes back as a new document (`201`, a new `_id`, `Location`).

    Args:
        table (str):
        id (str):
        if_match (None | str | Unset):
        prefer (None | str | Unset):
        body (RevertRequest): Which version to write back.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        DocumentBody | Problem | Receipt
     """


    return (await asyncio_detailed(
        table=table,
id=id,
client=client,
body=body,
if_match=if_match,
prefer=prefer,

    )).parsed
