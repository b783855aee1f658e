from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.api_run_response_200 import ApiRunResponse200
from ...models.api_run_response_4xx import ApiRunResponse4XX
from ...models.api_run_response_560 import ApiRunResponse560
from ...models.problem import Problem
from ...models.receipt import Receipt
from ...models.run_request import RunRequest
from typing import cast



def _get_kwargs(
    path: str,
    *,
    body: RunRequest,

) -> dict[str, Any]:
    headers: dict[str, Any] = {}


    

    

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/api/run/{path}".format(path=quote(str(path), safe=""),),
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> ApiRunResponse200 | ApiRunResponse4XX | ApiRunResponse560 | Problem | Receipt | None:
    if response.status_code == 200:
        response_200 = ApiRunResponse200.from_dict(response.json())



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

    if response.status_code == 502:
        response_502 = Problem.from_dict(response.json())



        return response_502

    if response.status_code == 503:
        response_503 = Problem.from_dict(response.json())



        return response_503

    if response.status_code == 504:
        response_504 = Problem.from_dict(response.json())



        return response_504

    if response.status_code == 560:
        response_560 = ApiRunResponse560.from_dict(response.json())



        return response_560

    if 400 <= response.status_code <= 499:
        response_4xx = ApiRunResponse4XX.from_dict(response.json())



        return response_4xx

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[ApiRunResponse200 | ApiRunResponse4XX | ApiRunResponse560 | Problem | Receipt]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    path: str,
    *,
    client: AuthenticatedClient,
    body: RunRequest,

) -> Response[ApiRunResponse200 | ApiRunResponse4XX | ApiRunResponse560 | Problem | Receipt]:
    """ Run any Convex function by its path in the URL (`/api/run/videos/getByTwitchId`).

     Its kind is not known in advance, so the policy must allow the path as a query, a mutation
    and an action; prefer the kind-specific routes.

    Args:
        path (str):
        body (RunRequest): A call through `/api/run/{path}`: the path is in the URL.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ApiRunResponse200 | ApiRunResponse4XX | ApiRunResponse560 | Problem | Receipt]
     """


    kwargs = _get_kwargs(
        path=path,
body=body,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    path: str,
    *,
    client: AuthenticatedClient,
    body: RunRequest,

) -> ApiRunResponse200 | ApiRunResponse4XX | ApiRunResponse560 | Problem | Receipt | None:
    """ Run any Convex function by its path in the URL (`/api/run/videos/getByTwitchId`).

     Its kind is not known in advance, so the policy must allow the path as a query, a mutation
    and an action; prefer the kind-specific routes.

    Args:
        path (str):
        body (RunRequest): A call through `/api/run/{path}`: the path is in the URL.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ApiRunResponse200 | ApiRunResponse4XX | ApiRunResponse560 | Problem | Receipt
     """


    return sync_detailed(
        path=path,
client=client,
body=body,

    ).parsed

async def asyncio_detailed(
    path: str,
    *,
    client: AuthenticatedClient,
    body: RunRequest,

) -> Response[ApiRunResponse200 | ApiRunResponse4XX | ApiRunResponse560 | Problem | Receipt]:
    """ Run any Convex function by its path in the URL (`/api/run/videos/getByTwitchId`).

     Its kind is not known in advance, so the policy must allow the path as a query, a mutation
    and an action; prefer the kind-specific routes.

    Args:
        path (str):
        body (RunRequest): A call through `/api/run/{path}`: the path is in the URL.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ApiRunResponse200 | ApiRunResponse4XX | ApiRunResponse560 | Problem | Receipt]
     """


    kwargs = _get_kwargs(
        path=path,
body=body,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    path: str,
    *,
    client: AuthenticatedClient,
    body: RunRequest,

) -> ApiRunResponse200 | ApiRunResponse4XX | ApiRunResponse560 | Problem | Receipt | None:
    """ Run any Convex function by its path in the URL (`/api/run/videos/getByTwitchId`).

     Its kind is not known in advance, so the policy must allow the path as a query, a mutation
    and an action; prefer the kind-specific routes.

    Args:
        path (str):
        body (RunRequest): A call through `/api/run/{path}`: the path is in the URL.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ApiRunResponse200 | ApiRunResponse4XX | ApiRunResponse560 | Problem | Receipt
     """


    return (await asyncio_detailed(
        path=path,
client=client,
body=body,

    )).parsed
