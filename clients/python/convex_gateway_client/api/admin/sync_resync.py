from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.problem import Problem
from ...models.sync_control import SyncControl
from typing import cast



def _get_kwargs(
    table: str,

) -> dict[str, Any]:
    

    

    

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/admin/sync/{table}/resync".format(table=quote(str(table), safe=""),),
    }


    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Problem | SyncControl | None:
    if response.status_code == 200:
        response_200 = SyncControl.from_dict(response.json())



        return response_200

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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[Problem | SyncControl]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    table: str,
    *,
    client: AuthenticatedClient,

) -> Response[Problem | SyncControl]:
    """ Resync a table (admin): Convex's table as it stands is copied into Postgres again, then the
    Postgres rows Convex lacks into Convex. The running sync does it next; `GET /admin/sync`
    shows the rows applied.

    Args:
        table (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | SyncControl]
     """


    kwargs = _get_kwargs(
        table=table,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    table: str,
    *,
    client: AuthenticatedClient,

) -> Problem | SyncControl | None:
    """ Resync a table (admin): Convex's table as it stands is copied into Postgres again, then the
    Postgres rows Convex lacks into Convex. The running sync does it next; `GET /admin/sync`
    shows the rows applied.

    Args:
        table (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | SyncControl
     """


    return sync_detailed(
        table=table,
client=client,

    ).parsed

async def asyncio_detailed(
    table: str,
    *,
    client: AuthenticatedClient,

) -> Response[Problem | SyncControl]:
    """ Resync a table (admin): Convex's table as it stands is copied into Postgres again, then the
    Postgres rows Convex lacks into Convex. The running sync does it next; `GET /admin/sync`
    shows the rows applied.

    Args:
        table (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | SyncControl]
     """


    kwargs = _get_kwargs(
        table=table,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    table: str,
    *,
    client: AuthenticatedClient,

) -> Problem | SyncControl | None:
    """ Resync a table (admin): Convex's table as it stands is copied into Postgres again, then the
    Postgres rows Convex lacks into Convex. The running sync does it next; `GET /admin/sync`
    shows the rows applied.

    Args:
        table (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | SyncControl
     """


    return (await asyncio_detailed(
        table=table,
client=client,

    )).parsed
