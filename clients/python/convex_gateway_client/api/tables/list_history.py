from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.history_response import HistoryResponse
from ...models.problem import Problem
from ...types import UNSET, Unset
from typing import cast



def _get_kwargs(
    table: str,
    id: str,
    *,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,

) -> dict[str, Any]:
    

    

    params: dict[str, Any] = {}

    params["limit"] = limit

    params["cursor"] = cursor


    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}


    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/tables/{table}/{id}/history".format(table=quote(str(table), safe=""),id=quote(str(id), safe=""),),
        "params": params,
    }


    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> HistoryResponse | Problem | None:
    if response.status_code == 200:
        response_200 = HistoryResponse.from_dict(response.json())



        return response_200

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

    if response.status_code == 503:
        response_503 = Problem.from_dict(response.json())



        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[HistoryResponse | Problem]:
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
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,

) -> Response[HistoryResponse | Problem]:
    """ List a document's versions.

     Newest first, for tables that keep history (`history = true` under `[tables.<name>]` in the
    policy). Needs read access; under row ownership, only the owner's documents. A deleted
    document's history stays readable until `GATEWAY_HISTORY_TTL` after its deletion.

    Args:
        table (str):
        id (str):
        limit (int | Unset):
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[HistoryResponse | Problem]
     """


    kwargs = _get_kwargs(
        table=table,
id=id,
limit=limit,
cursor=cursor,

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
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,

) -> HistoryResponse | Problem | None:
    """ List a document's versions.

     Newest first, for tables that keep history (`history = true` under `[tables.<name>]` in the
    policy). Needs read access; under row ownership, only the owner's documents. A deleted
    document's history stays readable until `GATEWAY_HISTORY_TTL` after its deletion.

    Args:
        table (str):
        id (str):
        limit (int | Unset):
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        HistoryResponse | Problem
     """


    return sync_detailed(
        table=table,
id=id,
client=client,
limit=limit,
cursor=cursor,

    ).parsed

async def asyncio_detailed(
    table: str,
    id: str,
    *,
    client: AuthenticatedClient,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,

) -> Response[HistoryResponse | Problem]:
    """ List a document's versions.

     Newest first, for tables that keep history (`history = true` under `[tables.<name>]` in the
    policy). Needs read access; under row ownership, only the owner's documents. A deleted
    document's history stays readable until `GATEWAY_HISTORY_TTL` after its deletion.

    Args:
        table (str):
        id (str):
        limit (int | Unset):
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[HistoryResponse | Problem]
     """


    kwargs = _get_kwargs(
        table=table,
id=id,
limit=limit,
cursor=cursor,

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
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,

) -> HistoryResponse | Problem | None:
    """ List a document's versions.

     Newest first, for tables that keep history (`history = true` under `[tables.<name>]` in the
    policy). Needs read access; under row ownership, only the owner's documents. A deleted
    document's history stays readable until `GATEWAY_HISTORY_TTL` after its deletion.

    Args:
        table (str):
        id (str):
        limit (int | Unset):
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        HistoryResponse | Problem
     """


    return (await asyncio_detailed(
        table=table,
id=id,
client=client,
limit=limit,
cursor=cursor,

    )).parsed
