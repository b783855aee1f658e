from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.commit_response import CommitResponse
from ...models.problem import Problem
from ...models.receipt import Receipt
from ...types import UNSET, Unset
from typing import cast



def _get_kwargs(
    id: str,
    *,
    prefer: None | str | Unset = UNSET,

) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(prefer, Unset):
        headers["Prefer"] = prefer



    

    

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/transactions/{id}/commit".format(id=quote(str(id), safe=""),),
    }


    _kwargs["headers"] = headers
    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> CommitResponse | Problem | Receipt | None:
    if response.status_code == 200:
        response_200 = CommitResponse.from_dict(response.json())



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

    if response.status_code == 410:
        response_410 = Problem.from_dict(response.json())



        return response_410

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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[CommitResponse | Problem | Receipt]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    id: str,
    *,
    client: AuthenticatedClient,
    prefer: None | str | Unset = UNSET,

) -> Response[CommitResponse | Problem | Receipt]:
    """ Commit an interactive transaction: every staged write, atomically.

    Args:
        id (str):
        prefer (None | str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[CommitResponse | Problem | Receipt]
     """


    kwargs = _get_kwargs(
        id=id,
prefer=prefer,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    id: str,
    *,
    client: AuthenticatedClient,
    prefer: None | str | Unset = UNSET,

) -> CommitResponse | Problem | Receipt | None:
    """ Commit an interactive transaction: every staged write, atomically.

    Args:
        id (str):
        prefer (None | str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        CommitResponse | Problem | Receipt
     """


    return sync_detailed(
        id=id,
client=client,
prefer=prefer,

    ).parsed

async def asyncio_detailed(
    id: str,
    *,
    client: AuthenticatedClient,
    prefer: None | str | Unset = UNSET,

) -> Response[CommitResponse | Problem | Receipt]:
    """ Commit an interactive transaction: every staged write, atomically.

    Args:
        id (str):
        prefer (None | str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[CommitResponse | Problem | Receipt]
     """


    kwargs = _get_kwargs(
        id=id,
prefer=prefer,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    id: str,
    *,
    client: AuthenticatedClient,
    prefer: None | str | Unset = UNSET,

) -> CommitResponse | Problem | Receipt | None:
    """ Commit an interactive transaction: every staged write, atomically.

    Args:
        id (str):
        prefer (None | str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        CommitResponse | Problem | Receipt
     """


    return (await asyncio_detailed(
        id=id,
client=client,
prefer=prefer,

    )).parsed
