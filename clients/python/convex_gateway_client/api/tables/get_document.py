from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.document_body import DocumentBody
from ...models.problem import Problem
from ...types import UNSET, Unset
from typing import cast



def _get_kwargs(
    table: str,
    id: str,
    *,
    if_none_match: None | str | Unset = UNSET,
    last_event_id: None | str | Unset = UNSET,

) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(if_none_match, Unset):
        headers["If-None-Match"] = if_none_match

    if not isinstance(last_event_id, Unset):
        headers["Last-Event-ID"] = last_event_id



    

    

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/tables/{table}/{id}".format(table=quote(str(table), safe=""),id=quote(str(id), safe=""),),
    }


    _kwargs["headers"] = headers
    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Any | DocumentBody | Problem | None:
    if response.status_code == 200:
        response_200 = DocumentBody.from_dict(response.json())



        return response_200

    if response.status_code == 304:
        response_304 = cast(Any, None)
        return response_304

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

    if response.status_code == 429:
        response_429 = Problem.from_dict(response.json())



        return response_429

    if response.status_code == 503:
        response_503 = Problem.from_dict(response.json())



        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[Any | DocumentBody | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    table: str,
    id: str,
    *,
    client: AuthenticatedClient,
    if_none_match: None | str | Unset = UNSET,
    last_event_id: None | str | Unset = UNSET,

) -> Response[Any | DocumentBody | Problem]:
    """ Get one document.

    Args:
        table (str):
        id (str):
        if_none_match (None | str | Unset):
        last_event_id (None | str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | DocumentBody | Problem]
     """


    kwargs = _get_kwargs(
        table=table,
id=id,
if_none_match=if_none_match,
last_event_id=last_event_id,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    table: str,
    id: str,
    *,
    client: AuthenticatedClient,
    if_none_match: None | str | Unset = UNSET,
    last_event_id: None | str | Unset = UNSET,

) -> Any | DocumentBody | Problem | None:
    """ Get one document.

    Args:
        table (str):
        id (str):
        if_none_match (None | str | Unset):
        last_event_id (None | str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | DocumentBody | Problem
     """


    return sync_detailed(
        table=table,
id=id,
client=client,
if_none_match=if_none_match,
last_event_id=last_event_id,

    ).parsed

async def asyncio_detailed(
    table: str,
    id: str,
    *,
    client: AuthenticatedClient,
    if_none_match: None | str | Unset = UNSET,
    last_event_id: None | str | Unset = UNSET,

) -> Response[Any | DocumentBody | Problem]:
    """ Get one document.

    Args:
        table (str):
        id (str):
        if_none_match (None | str | Unset):
        last_event_id (None | str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | DocumentBody | Problem]
     """


    kwargs = _get_kwargs(
        table=table,
id=id,
if_none_match=if_none_match,
last_event_id=last_event_id,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    table: str,
    id: str,
    *,
    client: AuthenticatedClient,
    if_none_match: None | str | Unset = UNSET,
    last_event_id: None | str | Unset = UNSET,

) -> Any | DocumentBody | Problem | None:
    """ Get one document.

    Args:
        table (str):
        id (str):
        if_none_match (None | str | Unset):
        last_event_id (None | str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | DocumentBody | Problem
     """


    return (await asyncio_detailed(
        table=table,
id=id,
client=client,
if_none_match=if_none_match,
last_event_id=last_event_id,

    )).parsed
