from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.batch_request import BatchRequest
from ...models.batch_response import BatchResponse
from ...models.problem import Problem
from ...models.receipt import Receipt
from ...types import UNSET, Unset
from typing import cast



def _get_kwargs(
    *,
    body: BatchRequest,
    prefer: None | str | Unset = UNSET,

) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(prefer, Unset):
        headers["Prefer"] = prefer



    

    

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/transactions",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> BatchResponse | Problem | Receipt | None:
    if response.status_code == 200:
        response_200 = BatchResponse.from_dict(response.json())



        return response_200

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

    if response.status_code == 413:
        response_413 = Problem.from_dict(response.json())



        return response_413

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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[BatchResponse | Problem | Receipt]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: BatchRequest,
    prefer: None | str | Unset = UNSET,

) -> Response[BatchResponse | Problem | Receipt]:
    """ Apply a batch of operations atomically.

     Everything commits or nothing does. A failing operation is named by `failedOperation` in the
    problem body: 404 when its document does not exist, 412 when its `version` does not match,
    400 for an invalid document or `$ref`.

    Args:
        prefer (None | str | Unset):
        body (BatchRequest): A batch of operations, applied all together or not at all.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[BatchResponse | Problem | Receipt]
     """


    kwargs = _get_kwargs(
        body=body,
prefer=prefer,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    *,
    client: AuthenticatedClient,
    body: BatchRequest,
    prefer: None | str | Unset = UNSET,

) -> BatchResponse | Problem | Receipt | None:
    """ Apply a batch of operations atomically.

     Everything commits or nothing does. A failing operation is named by `failedOperation` in the
    problem body: 404 when its document does not exist, 412 when its `version` does not match,
    400 for an invalid document or `$ref`.

    Args:
        prefer (None | str | Unset):
        body (BatchRequest): A batch of operations, applied all together or not at all.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        BatchResponse | Problem | Receipt
     """


    return sync_detailed(
        client=client,
body=body,
prefer=prefer,

    ).parsed

async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: BatchRequest,
    prefer: None | str | Unset = UNSET,

) -> Response[BatchResponse | Problem | Receipt]:
    """ Apply a batch of operations atomically.

     Everything commits or nothing does. A failing operation is named by `failedOperation` in the
    problem body: 404 when its document does not exist, 412 when its `version` does not match,
    400 for an invalid document or `$ref`.

    Args:
        prefer (None | str | Unset):
        body (BatchRequest): A batch of operations, applied all together or not at all.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[BatchResponse | Problem | Receipt]
     """


    kwargs = _get_kwargs(
        body=body,
prefer=prefer,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    *,
    client: AuthenticatedClient,
    body: BatchRequest,
    prefer: None | str | Unset = UNSET,

) -> BatchResponse | Problem | Receipt | None:
    """ Apply a batch of operations atomically.

     Everything commits or nothing does. A failing operation is named by `failedOperation` in the
    problem body: 404 when its document does not exist, 412 when its `version` does not match,
    400 for an invalid document or `$ref`.

    Args:
        prefer (None | str | Unset):
        body (BatchRequest): A batch of operations, applied all together or not at all.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        BatchResponse | Problem | Receipt
     """


    return (await asyncio_detailed(
        client=client,
body=body,
prefer=prefer,

    )).parsed
