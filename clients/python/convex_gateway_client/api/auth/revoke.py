from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.problem import Problem
from ...models.revoke_request import RevokeRequest
from typing import cast



def _get_kwargs(
    *,
    body: RevokeRequest,

) -> dict[str, Any]:
    headers: dict[str, Any] = {}


    

    

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/auth/revoke",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Any | Problem | None:
    if response.status_code == 200:
        response_200 = cast(Any, None)
        return response_200

    if response.status_code == 400:
        response_400 = Problem.from_dict(response.json())



        return response_400

    if response.status_code == 415:
        response_415 = Problem.from_dict(response.json())



        return response_415

    if response.status_code == 503:
        response_503 = Problem.from_dict(response.json())



        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[Any | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
    body: RevokeRequest,

) -> Response[Any | Problem]:
    """ Revoke a refresh token and every token rotated from the same login (RFC 7009).

     Answers 200 whether or not the token was known. Access tokens stay valid until they expire,
    so keep their lifetime (`JWT_EXPIRY_SECONDS`) short.

    Args:
        body (RevokeRequest): A revocation request (RFC 7009): the refresh token whose family to
            revoke.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | Problem]
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
    client: AuthenticatedClient | Client,
    body: RevokeRequest,

) -> Any | Problem | None:
    """ Revoke a refresh token and every token rotated from the same login (RFC 7009).

     Answers 200 whether or not the token was known. Access tokens stay valid until they expire,
    so keep their lifetime (`JWT_EXPIRY_SECONDS`) short.

    Args:
        body (RevokeRequest): A revocation request (RFC 7009): the refresh token whose family to
            revoke.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | Problem
     """


    return sync_detailed(
        client=client,
body=body,

    ).parsed

async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
    body: RevokeRequest,

) -> Response[Any | Problem]:
    """ Revoke a refresh token and every token rotated from the same login (RFC 7009).

     Answers 200 whether or not the token was known. Access tokens stay valid until they expire,
    so keep their lifetime (`JWT_EXPIRY_SECONDS`) short.

    Args:
        body (RevokeRequest): A revocation request (RFC 7009): the refresh token whose family to
            revoke.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | Problem]
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
    client: AuthenticatedClient | Client,
    body: RevokeRequest,

) -> Any | Problem | None:
    """ Revoke a refresh token and every token rotated from the same login (RFC 7009).

     Answers 200 whether or not the token was known. Access tokens stay valid until they expire,
    so keep their lifetime (`JWT_EXPIRY_SECONDS`) short.

    Args:
        body (RevokeRequest): A revocation request (RFC 7009): the refresh token whose family to
            revoke.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | Problem
     """


    return (await asyncio_detailed(
        client=client,
body=body,

    )).parsed
