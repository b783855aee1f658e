from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.function_value import FunctionValue
from ...models.problem import Problem
from ...types import UNSET, Unset
from typing import cast



def _get_kwargs(
    kind: str,
    path: str,
    *,
    args: str | Unset = UNSET,

) -> dict[str, Any]:
    

    

    params: dict[str, Any] = {}

    params["args"] = args


    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}


    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/functions/{kind}/{path}".format(kind=quote(str(kind), safe=""),path=quote(str(path), safe=""),),
        "params": params,
    }


    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> FunctionValue | Problem | None:
    if response.status_code == 200:
        response_200 = FunctionValue.from_dict(response.json())



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

    if response.status_code == 422:
        response_422 = Problem.from_dict(response.json())



        return response_422

    if response.status_code == 429:
        response_429 = Problem.from_dict(response.json())



        return response_429

    if response.status_code == 502:
        response_502 = Problem.from_dict(response.json())



        return response_502

    if response.status_code == 503:
        response_503 = Problem.from_dict(response.json())



        return response_503

    if response.status_code == 504:
        response_504 = Problem.from_dict(response.json())



        return response_504

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[FunctionValue | Problem]:
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
    args: str | Unset = UNSET,

) -> Response[FunctionValue | Problem]:
    """ Read a Convex query with GET, or watch it live.

     Without `Accept: text/event-stream`, the query runs once and answers `{"value": …}`, as the
    POST form does. With it, the answer is a live watch (Server-Sent Events): `event: value` with
    `{"value": …}` at once and whenever the result changes (never twice the same), and
    `event: failed` (`{"code", "detail", "errorData"}`) when the query throws, after which the
    watch goes on. Identical watches (path, args and identity) share one upstream subscription.

    Args:
        kind (str):
        path (str):
        args (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[FunctionValue | Problem]
     """


    kwargs = _get_kwargs(
        kind=kind,
path=path,
args=args,

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
    args: str | Unset = UNSET,

) -> FunctionValue | Problem | None:
    """ Read a Convex query with GET, or watch it live.

     Without `Accept: text/event-stream`, the query runs once and answers `{"value": …}`, as the
    POST form does. With it, the answer is a live watch (Server-Sent Events): `event: value` with
    `{"value": …}` at once and whenever the result changes (never twice the same), and
    `event: failed` (`{"code", "detail", "errorData"}`) when the query throws, after which the
    watch goes on. Identical watches (path, args and identity) share one upstream subscription.

    Args:
        kind (str):
        path (str):
        args (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        FunctionValue | Problem
     """


    return sync_detailed(
        kind=kind,
path=path,
client=client,
args=args,

    ).parsed

async def asyncio_detailed(
    kind: str,
    path: str,
    *,
    client: AuthenticatedClient,
    args: str | Unset = UNSET,

) -> Response[FunctionValue | Problem]:
    """ Read a Convex query with GET, or watch it live.

     Without `Accept: text/event-stream`, the query runs once and answers `{"value": …}`, as the
    POST form does. With it, the answer is a live watch (Server-Sent Events): `event: value` with
    `{"value": …}` at once and whenever the result changes (never twice the same), and
    `event: failed` (`{"code", "detail", "errorData"}`) when the query throws, after which the
    watch goes on. Identical watches (path, args and identity) share one upstream subscription.

    Args:
        kind (str):
        path (str):
        args (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[FunctionValue | Problem]
     """


    kwargs = _get_kwargs(
        kind=kind,
path=path,
args=args,

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
    args: str | Unset = UNSET,

) -> FunctionValue | Problem | None:
    """ Read a Convex query with GET, or watch it live.

     Without `Accept: text/event-stream`, the query runs once and answers `{"value": …}`, as the
    POST form does. With it, the answer is a live watch (Server-Sent Events): `event: value` with
    `{"value": …}` at once and whenever the result changes (never twice the same), and
    `event: failed` (`{"code", "detail", "errorData"}`) when the query throws, after which the
    watch goes on. Identical watches (path, args and identity) share one upstream subscription.

    Args:
        kind (str):
        path (str):
        args (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        FunctionValue | Problem
     """


    return (await asyncio_detailed(
        kind=kind,
path=path,
client=client,
args=args,

    )).parsed
