from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.api_query_response_200 import ApiQueryResponse200
from ...models.api_query_response_4xx import ApiQueryResponse4XX
from ...models.api_query_response_560 import ApiQueryResponse560
from ...models.function_request import FunctionRequest
from ...models.problem import Problem
from ...models.receipt import Receipt
from typing import cast



def _get_kwargs(
    *,
    body: FunctionRequest,

) -> dict[str, Any]:
    headers: dict[str, Any] = {}


    

    

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/api/query",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> ApiQueryResponse200 | ApiQueryResponse4XX | ApiQueryResponse560 | Problem | Receipt | None:
    if response.status_code == 200:
        response_200 = ApiQueryResponse200.from_dict(response.json())



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
        response_560 = ApiQueryResponse560.from_dict(response.json())



        return response_560

    if 400 <= response.status_code <= 499:
        response_4xx = ApiQueryResponse4XX.from_dict(response.json())



        return response_4xx

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[ApiQueryResponse200 | ApiQueryResponse4XX | ApiQueryResponse560 | Problem | Receipt]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: FunctionRequest,

) -> Response[ApiQueryResponse200 | ApiQueryResponse4XX | ApiQueryResponse560 | Problem | Receipt]:
    """ Run a Convex query (Convex's HTTP API, passed through).

    Args:
        body (FunctionRequest): A Convex function call, exactly as Convex's HTTP API takes it.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ApiQueryResponse200 | ApiQueryResponse4XX | ApiQueryResponse560 | Problem | Receipt]
     """


    kwargs = _get_kwargs(
        body=body,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    *,
    client: AuthenticatedClient,
    body: FunctionRequest,

) -> ApiQueryResponse200 | ApiQueryResponse4XX | ApiQueryResponse560 | Problem | Receipt | None:
    """ Run a Convex query (Convex's HTTP API, passed through).

    Args:
        body (FunctionRequest): A Convex function call, exactly as Convex's HTTP API takes it.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ApiQueryResponse200 | ApiQueryResponse4XX | ApiQueryResponse560 | Problem | Receipt
     """


    return sync_detailed(
        client=client,
body=body,

    ).parsed

async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: FunctionRequest,

) -> Response[ApiQueryResponse200 | ApiQueryResponse4XX | ApiQueryResponse560 | Problem | Receipt]:
    """ Run a Convex query (Convex's HTTP API, passed through).

    Args:
        body (FunctionRequest): A Convex function call, exactly as Convex's HTTP API takes it.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ApiQueryResponse200 | ApiQueryResponse4XX | ApiQueryResponse560 | Problem | Receipt]
     """


    kwargs = _get_kwargs(
        body=body,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    *,
    client: AuthenticatedClient,
    body: FunctionRequest,

) -> ApiQueryResponse200 | ApiQueryResponse4XX | ApiQueryResponse560 | Problem | Receipt | None:
    """ Run a Convex query (Convex's HTTP API, passed through).

    Args:
        body (FunctionRequest): A Convex function call, exactly as Convex's HTTP API takes it.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ApiQueryResponse200 | ApiQueryResponse4XX | ApiQueryResponse560 | Problem | Receipt
     """


    return (await asyncio_detailed(
        client=client,
body=body,

    )).parsed
