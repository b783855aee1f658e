from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.problem import Problem
from ...models.set_variable import SetVariable
from ...models.variable import Variable
from typing import cast



def _get_kwargs(
    name: str,
    *,
    body: SetVariable,

) -> dict[str, Any]:
    headers: dict[str, Any] = {}


    

    

    _kwargs: dict[str, Any] = {
        "method": "put",
        "url": "/admin/convex/env/{name}".format(name=quote(str(name), safe=""),),
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Problem | Variable | None:
    if response.status_code == 200:
        response_200 = Variable.from_dict(response.json())



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

    if response.status_code == 415:
        response_415 = Problem.from_dict(response.json())



        return response_415

    if response.status_code == 502:
        response_502 = Problem.from_dict(response.json())



        return response_502

    if response.status_code == 503:
        response_503 = Problem.from_dict(response.json())



        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[Problem | Variable]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    name: str,
    *,
    client: AuthenticatedClient,
    body: SetVariable,

) -> Response[Problem | Variable]:
    """ Set one environment variable (admin).

     The answer does not repeat the value. Convex checks the name (a letter or `_` first, then
    letters, digits and `_`, at most 40) and the value (at most 8 KiB), and holds at most 100.

    Args:
        name (str):
        body (SetVariable): A value to set.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | Variable]
     """


    kwargs = _get_kwargs(
        name=name,
body=body,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    name: str,
    *,
    client: AuthenticatedClient,
    body: SetVariable,

) -> Problem | Variable | None:
    """ Set one environment variable (admin).

     The answer does not repeat the value. Convex checks the name (a letter or `_` first, then
    letters, digits and `_`, at most 40) and the value (at most 8 KiB), and holds at most 100.

    Args:
        name (str):
        body (SetVariable): A value to set.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | Variable
     """


    return sync_detailed(
        name=name,
client=client,
body=body,

    ).parsed

async def asyncio_detailed(
    name: str,
    *,
    client: AuthenticatedClient,
    body: SetVariable,

) -> Response[Problem | Variable]:
    """ Set one environment variable (admin).

     The answer does not repeat the value. Convex checks the name (a letter or `_` first, then
    letters, digits and `_`, at most 40) and the value (at most 8 KiB), and holds at most 100.

    Args:
        name (str):
        body (SetVariable): A value to set.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | Variable]
     """


    kwargs = _get_kwargs(
        name=name,
body=body,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    name: str,
    *,
    client: AuthenticatedClient,
    body: SetVariable,

) -> Problem | Variable | None:
    """ Set one environment variable (admin).

     The answer does not repeat the value. Convex checks the name (a letter or `_` first, then
    letters, digits and `_`, at most 40) and the value (at most 8 KiB), and holds at most 100.

    Args:
        name (str):
        body (SetVariable): A value to set.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | Variable
     """


    return (await asyncio_detailed(
        name=name,
client=client,
body=body,

    )).parsed
