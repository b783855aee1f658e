from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.problem import Problem
from ...models.transaction_handle import TransactionHandle
from typing import cast



def _get_kwargs(
    
) -> dict[str, Any]:
    

    

    

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/transactions/begin",
    }


    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Problem | TransactionHandle | None:
    if response.status_code == 201:
        response_201 = TransactionHandle.from_dict(response.json())



        return response_201

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())



        return response_401

    if response.status_code == 429:
        response_429 = Problem.from_dict(response.json())



        return response_429

    if response.status_code == 503:
        response_503 = Problem.from_dict(response.json())



        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[Problem | TransactionHandle]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,

) -> Response[Problem | TransactionHandle]:
    """ Open an interactive transaction.

     Table requests carrying `X-Transaction-Id: <id>` are then staged, not applied; reads in the
    transaction see its own staged writes and record the versions they saw. Commit applies
    everything atomically, or answers 409 if anything read or written has changed since.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | TransactionHandle]
     """


    kwargs = _get_kwargs(
        
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    *,
    client: AuthenticatedClient,

) -> Problem | TransactionHandle | None:
    """ Open an interactive transaction.

     Table requests carrying `X-Transaction-Id: <id>` are then staged, not applied; reads in the
    transaction see its own staged writes and record the versions they saw. Commit applies
    everything atomically, or answers 409 if anything read or written has changed since.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | TransactionHandle
     """


    return sync_detailed(
        client=client,

    ).parsed

async def asyncio_detailed(
    *,
    client: AuthenticatedClient,

) -> Response[Problem | TransactionHandle]:
    """ Open an interactive transaction.

     Table requests carrying `X-Transaction-Id: <id>` are then staged, not applied; reads in the
    transaction see its own staged writes and record the versions they saw. Commit applies
    everything atomically, or answers 409 if anything read or written has changed since.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | TransactionHandle]
     """


    kwargs = _get_kwargs(
        
    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    *,
    client: AuthenticatedClient,

) -> Problem | TransactionHandle | None:
    """ Open an interactive transaction.

     Table requests carrying `X-Transaction-Id: <id>` are then staged, not applied; reads in the
    transaction see its own staged writes and record the versions they saw. Commit applies
    everything atomically, or answers 409 if anything read or written has changed since.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | TransactionHandle
     """


    return (await asyncio_detailed(
        client=client,

    )).parsed
