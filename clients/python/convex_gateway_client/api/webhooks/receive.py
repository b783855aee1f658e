from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.problem import Problem
from ...models.webhook_receipt import WebhookReceipt
from typing import cast



def _get_kwargs(
    name: str,
    *,
    body: Any,

) -> dict[str, Any]:
    headers: dict[str, Any] = {}


    

    

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/webhooks/{name}".format(name=quote(str(name), safe=""),),
    }

    _kwargs["json"] = body

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Problem | WebhookReceipt | None:
    if response.status_code == 200:
        response_200 = WebhookReceipt.from_dict(response.json())



        return response_200

    if response.status_code == 202:
        response_202 = WebhookReceipt.from_dict(response.json())



        return response_202

    if response.status_code == 400:
        response_400 = Problem.from_dict(response.json())



        return response_400

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())



        return response_401

    if response.status_code == 404:
        response_404 = Problem.from_dict(response.json())



        return response_404

    if response.status_code == 409:
        response_409 = Problem.from_dict(response.json())



        return response_409

    if response.status_code == 413:
        response_413 = Problem.from_dict(response.json())



        return response_413

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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[Problem | WebhookReceipt]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    name: str,
    *,
    client: AuthenticatedClient | Client,
    body: Any,

) -> Response[Problem | WebhookReceipt]:
    """ Receive a webhook.

     The webhook `name` is declared in `GATEWAY_WEBHOOKS` with its signature scheme (`standard`
    and Svix/Clerk, `stripe`, `github`, `hmac`), its secrets and its targets. The raw body is
    verified before it is parsed; a message id seen before answers `duplicate` and does nothing.
    No bearer token: the signature is the credential.

    Args:
        name (str):
        body (Any):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | WebhookReceipt]
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
    client: AuthenticatedClient | Client,
    body: Any,

) -> Problem | WebhookReceipt | None:
    """ Receive a webhook.

     The webhook `name` is declared in `GATEWAY_WEBHOOKS` with its signature scheme (`standard`
    and Svix/Clerk, `stripe`, `github`, `hmac`), its secrets and its targets. The raw body is
    verified before it is parsed; a message id seen before answers `duplicate` and does nothing.
    No bearer token: the signature is the credential.

    Args:
        name (str):
        body (Any):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | WebhookReceipt
     """


    return sync_detailed(
        name=name,
client=client,
body=body,

    ).parsed

async def asyncio_detailed(
    name: str,
    *,
    client: AuthenticatedClient | Client,
    body: Any,

) -> Response[Problem | WebhookReceipt]:
    """ Receive a webhook.

     The webhook `name` is declared in `GATEWAY_WEBHOOKS` with its signature scheme (`standard`
    and Svix/Clerk, `stripe`, `github`, `hmac`), its secrets and its targets. The raw body is
    verified before it is parsed; a message id seen before answers `duplicate` and does nothing.
    No bearer token: the signature is the credential.

    Args:
        name (str):
        body (Any):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | WebhookReceipt]
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
    client: AuthenticatedClient | Client,
    body: Any,

) -> Problem | WebhookReceipt | None:
    """ Receive a webhook.

     The webhook `name` is declared in `GATEWAY_WEBHOOKS` with its signature scheme (`standard`
    and Svix/Clerk, `stripe`, `github`, `hmac`), its secrets and its targets. The raw body is
    verified before it is parsed; a message id seen before answers `duplicate` and does nothing.
    No bearer token: the signature is the credential.

    Args:
        name (str):
        body (Any):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | WebhookReceipt
     """


    return (await asyncio_detailed(
        name=name,
client=client,
body=body,

    )).parsed
