from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.call_function_body import CallFunctionBody
from ...models.function_value import FunctionValue
from ...models.problem import Problem
from ...models.receipt import Receipt
from typing import cast



def _get_kwargs(
    kind: str,
    path: str,
    *,
    body: CallFunctionBody,

) -> dict[str, Any]:
    headers: dict[str, Any] = {}


    

    

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/functions/{kind}/{path}".format(kind=quote(str(kind), safe=""),path=quote(str(path), safe=""),),
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> FunctionValue | Problem | Receipt | None:
    if response.status_code == 200:
        response_200 = FunctionValue.from_dict(response.json())



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

    if response.status_code == 422:
        response_422 = Problem.from_dict(response.json())



        return response_422

    if response.status_code == 502:
        response_502 = Problem.from_dict(response.json())



        return response_502

    if response.status_code == 504:
        response_504 = Problem.from_dict(response.json())



        return response_504

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[FunctionValue | Problem | Receipt]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    kind: str,
    path: str,
    *,
    client: AuthenticatedClient,
    body: CallFunctionBody,

) -> Response[FunctionValue | Problem | Receipt]:
    """ Call a Convex function the REST way: the body is its args (or empty), the answer its value.

    Args:
        kind (str):
        path (str):
        body (CallFunctionBody):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[FunctionValue | Problem | Receipt]
     """


    kwargs = _get_kwargs(
        kind=kind,
path=path,
body=body,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    kind: str,
    path: str,
    *,
    client: AuthenticatedClient,
    body: CallFunctionBody,

) -> FunctionValue | Problem | Receipt | None:
    """ Call a Convex function the REST way: the body is its args (or empty), the answer its value.

    Args:
        kind (str):
        path (str):
        body (CallFunctionBody):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        FunctionValue | Problem | Receipt
     """


    return sync_detailed(
        kind=kind,
path=path,
client=client,
body=body,

    ).parsed

async def asyncio_detailed(
    kind: str,
    path: str,
    *,
    client: AuthenticatedClient,
    body: CallFunctionBody,

) -> Response[FunctionValue | Problem | Receipt]:
    """ Call a Convex function the REST way: the body is its args (or empty), the answer its value.

    Args:
        kind (str):
        path (str):
        body (CallFunctionBody):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[FunctionValue | Problem | Receipt]
     """


    kwargs = _get_kwargs(
        kind=kind,
path=path,
body=body,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    kind: str,
    path: str,
    *,
    client: AuthenticatedClient,
    body: CallFunctionBody,

) -> FunctionValue | Problem | Receipt | None:
    """ Call a Convex function the REST way: the body is its args (or empty), the answer its value.

    Args:
        kind (str):
        path (str):
        body (CallFunctionBody):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        FunctionValue | Problem | Receipt
     """


    return (await asyncio_detailed(
        kind=kind,
path=path,
client=client,
body=body,

    )).parsed
