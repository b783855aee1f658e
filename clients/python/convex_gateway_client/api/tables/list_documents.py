from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.list_documents_filters import ListDocumentsFilters
from ...models.list_documents_mode import ListDocumentsMode
from ...models.list_response import ListResponse
from ...models.problem import Problem
from ...types import UNSET, Unset
from typing import cast



def _get_kwargs(
    table: str,
    *,
    order: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
    filters: ListDocumentsFilters | Unset = UNSET,
    mode: ListDocumentsMode | Unset = UNSET,
    last_event_id: None | str | Unset = UNSET,

) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(last_event_id, Unset):
        headers["Last-Event-ID"] = last_event_id



    

    params: dict[str, Any] = {}

    params["order"] = order

    params["limit"] = limit

    params["cursor"] = cursor

    json_filters: dict[str, Any] | Unset = UNSET
    if not isinstance(filters, Unset):
        json_filters = filters.to_dict()
    if not isinstance(json_filters, Unset):
        params.update(json_filters)


    json_mode: str | Unset = UNSET
    if not isinstance(mode, Unset):
        json_mode = mode.value

    params["mode"] = json_mode


    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}


    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/tables/{table}".format(table=quote(str(table), safe=""),),
        "params": params,
    }


    _kwargs["headers"] = headers
    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> ListResponse | Problem | None:
    if response.status_code == 200:
        response_200 = ListResponse.from_dict(response.json())



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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[ListResponse | Problem]:
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
    order: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
    filters: ListDocumentsFilters | Unset = UNSET,
    mode: ListDocumentsMode | Unset = UNSET,
    last_event_id: None | str | Unset = UNSET,

) -> Response[ListResponse | Problem]:
    """ List documents, filtered, ordered and paged.

     Filters use PostgREST's grammar: `?field=op.value` with `eq`, `neq`, `gt`, `gte`, `lt`,
    `lte`, `like` and `ilike` (`*` is the wildcard), `in.(a,b)`, `is.null`, `is.true` and
    `is.false`, each optionally prefixed by `not.`. A dotted path (`meta.rank`) reaches nested
    fields. Unquoted numbers and `true`/`false` are typed; quote a value (`eq."42"`) to compare it
    as a string.

    Args:
        table (str):
        order (str | Unset):
        limit (int | Unset):
        cursor (str | Unset):
        filters (ListDocumentsFilters | Unset):
        mode (ListDocumentsMode | Unset): What a table watch sends (`mode`, with `Accept:
            text/event-stream`).
        last_event_id (None | str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ListResponse | Problem]
     """


    kwargs = _get_kwargs(
        table=table,
order=order,
limit=limit,
cursor=cursor,
filters=filters,
mode=mode,
last_event_id=last_event_id,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    table: str,
    *,
    client: AuthenticatedClient,
    order: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
    filters: ListDocumentsFilters | Unset = UNSET,
    mode: ListDocumentsMode | Unset = UNSET,
    last_event_id: None | str | Unset = UNSET,

) -> ListResponse | Problem | None:
    """ List documents, filtered, ordered and paged.

     Filters use PostgREST's grammar: `?field=op.value` with `eq`, `neq`, `gt`, `gte`, `lt`,
    `lte`, `like` and `ilike` (`*` is the wildcard), `in.(a,b)`, `is.null`, `is.true` and
    `is.false`, each optionally prefixed by `not.`. A dotted path (`meta.rank`) reaches nested
    fields. Unquoted numbers and `true`/`false` are typed; quote a value (`eq."42"`) to compare it
    as a string.

    Args:
        table (str):
        order (str | Unset):
        limit (int | Unset):
        cursor (str | Unset):
        filters (ListDocumentsFilters | Unset):
        mode (ListDocumentsMode | Unset): What a table watch sends (`mode`, with `Accept:
            text/event-stream`).
        last_event_id (None | str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ListResponse | Problem
     """


    return sync_detailed(
        table=table,
client=client,
order=order,
limit=limit,
cursor=cursor,
filters=filters,
mode=mode,
last_event_id=last_event_id,

    ).parsed

async def asyncio_detailed(
    table: str,
    *,
    client: AuthenticatedClient,
    order: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
    filters: ListDocumentsFilters | Unset = UNSET,
    mode: ListDocumentsMode | Unset = UNSET,
    last_event_id: None | str | Unset = UNSET,

) -> Response[ListResponse | Problem]:
    """ List documents, filtered, ordered and paged.

     Filters use PostgREST's grammar: `?field=op.value` with `eq`, `neq`, `gt`, `gte`, `lt`,
    `lte`, `like` and `ilike` (`*` is the wildcard), `in.(a,b)`, `is.null`, `is.true` and
    `is.false`, each optionally prefixed by `not.`. A dotted path (`meta.rank`) reaches nested
    fields. Unquoted numbers and `true`/`false` are typed; quote a value (`eq."42"`) to compare it
    as a string.

    Args:
        table (str):
        order (str | Unset):
        limit (int | Unset):
        cursor (str | Unset):
        filters (ListDocumentsFilters | Unset):
        mode (ListDocumentsMode | Unset): What a table watch sends (`mode`, with `Accept:
            text/event-stream`).
        last_event_id (None | str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ListResponse | Problem]
     """


    kwargs = _get_kwargs(
        table=table,
order=order,
limit=limit,
cursor=cursor,
filters=filters,
mode=mode,
last_event_id=last_event_id,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    table: str,
    *,
    client: AuthenticatedClient,
    order: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
    filters: ListDocumentsFilters | Unset = UNSET,
    mode: ListDocumentsMode | Unset = UNSET,
    last_event_id: None | str | Unset = UNSET,

) -> ListResponse | Problem | None:
    """ List documents, filtered, ordered and paged.

     Filters use PostgREST's grammar: `?field=op.value` with `eq`, `neq`, `gt`, `gte`, `lt`,
    `lte`, `like` and `ilike` (`*` is the wildcard), `in.(a,b)`, `is.null`, `is.true` and
    `is.false`, each optionally prefixed by `not.`. A dotted path (`meta.rank`) reaches nested
    fields. Unquoted numbers and `true`/`false` are typed; quote a value (`eq."42"`) to compare it
    as a string.

    Args:
        table (str):
        order (str | Unset):
        limit (int | Unset):
        cursor (str | Unset):
        filters (ListDocumentsFilters | Unset):
        mode (ListDocumentsMode | Unset): What a table watch sends (`mode`, with `Accept:
            text/event-stream`).
        last_event_id (None | str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ListResponse | Problem
     """


    return (await asyncio_detailed(
        table=table,
client=client,
order=order,
limit=limit,
cursor=cursor,
filters=filters,
mode=mode,
last_event_id=last_event_id,

    )).parsed
