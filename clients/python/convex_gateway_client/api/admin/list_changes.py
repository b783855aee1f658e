from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.change_page import ChangePage
from ...models.problem import Problem
from ...types import UNSET, Unset
from typing import cast



def _get_kwargs(
    *,
    since: int | Unset = UNSET,
    table: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    wait: int | Unset = UNSET,

) -> dict[str, Any]:
    

    

    params: dict[str, Any] = {}

    params["since"] = since

    params["table"] = table

    params["limit"] = limit

    params["wait"] = wait


    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}


    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/admin/changes",
        "params": params,
    }


    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> ChangePage | Problem | None:
    if response.status_code == 200:
        response_200 = ChangePage.from_dict(response.json())



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

    if response.status_code == 410:
        response_410 = Problem.from_dict(response.json())



        return response_410

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[ChangePage | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    since: int | Unset = UNSET,
    table: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    wait: int | Unset = UNSET,

) -> Response[ChangePage | Problem]:
    """ The change feed (admin): every committed insert, update and delete, in commit order.

     Follow it by passing each page's `nextSince` as the next `since`: nothing is lost or
    repeated, across gateway restarts too. With `wait`, a request that finds nothing new is held
    until a change commits (a long poll), so a follower needs no polling loop of its own. A delete is a
    tombstone (`document` is null). A
    position older than `GATEWAY_CHANGES_RETENTION` answers 410 `resync_needed`.

    Args:
        since (int | Unset):
        table (str | Unset):
        limit (int | Unset):
        wait (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ChangePage | Problem]
     """


    kwargs = _get_kwargs(
        since=since,
table=table,
limit=limit,
wait=wait,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    *,
    client: AuthenticatedClient,
    since: int | Unset = UNSET,
    table: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    wait: int | Unset = UNSET,

) -> ChangePage | Problem | None:
    """ The change feed (admin): every committed insert, update and delete, in commit order.

     Follow it by passing each page's `nextSince` as the next `since`: nothing is lost or
    repeated, across gateway restarts too. With `wait`, a request that finds nothing new is held
    until a change commits (a long poll), so a follower needs no polling loop of its own. A delete is a
    tombstone (`document` is null). A
    position older than `GATEWAY_CHANGES_RETENTION` answers 410 `resync_needed`.

    Args:
        since (int | Unset):
        table (str | Unset):
        limit (int | Unset):
        wait (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ChangePage | Problem
     """


    return sync_detailed(
        client=client,
since=since,
table=table,
limit=limit,
wait=wait,

    ).parsed

async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    since: int | Unset = UNSET,
    table: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    wait: int | Unset = UNSET,

) -> Response[ChangePage | Problem]:
    """ The change feed (admin): every committed insert, update and delete, in commit order.

     Follow it by passing each page's `nextSince` as the next `since`: nothing is lost or
    repeated, across gateway restarts too. With `wait`, a request that finds nothing new is held
    until a change commits (a long poll), so a follower needs no polling loop of its own. A delete is a
    tombstone (`document` is null). A
    position older than `GATEWAY_CHANGES_RETENTION` answers 410 `resync_needed`.

    Args:
        since (int | Unset):
        table (str | Unset):
        limit (int | Unset):
        wait (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ChangePage | Problem]
     """


    kwargs = _get_kwargs(
        since=since,
table=table,
limit=limit,
wait=wait,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    *,
    client: AuthenticatedClient,
    since: int | Unset = UNSET,
    table: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    wait: int | Unset = UNSET,

) -> ChangePage | Problem | None:
    """ The change feed (admin): every committed insert, update and delete, in commit order.

     Follow it by passing each page's `nextSince` as the next `since`: nothing is lost or
    repeated, across gateway restarts too. With `wait`, a request that finds nothing new is held
    until a change commits (a long poll), so a follower needs no polling loop of its own. A delete is a
    tombstone (`document` is null). A
    position older than `GATEWAY_CHANGES_RETENTION` answers 410 `resync_needed`.

    Args:
        since (int | Unset):
        table (str | Unset):
        limit (int | Unset):
        wait (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ChangePage | Problem
     """


    return (await asyncio_detailed(
        client=client,
since=since,
table=table,
limit=limit,
wait=wait,

    )).parsed
