from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.document_body import DocumentBody
from ...models.new_document import NewDocument
from ...models.problem import Problem
from ...models.receipt import Receipt
from ...types import UNSET, Unset
from typing import cast



def _get_kwargs(
    table: str,
    *,
    body: list[NewDocument] | NewDocument,
    prefer: None | str | Unset = UNSET,

) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(prefer, Unset):
        headers["Prefer"] = prefer



    

    

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/tables/{table}".format(table=quote(str(table), safe=""),),
    }

    
    if isinstance(body, NewDocument):
        _kwargs["json"] = body.to_dict()
    else:
        _kwargs["json"] = []
        for componentsschemas_insert_body_type_1_item_data in body:
            componentsschemas_insert_body_type_1_item = componentsschemas_insert_body_type_1_item_data.to_dict()
            _kwargs["json"].append(componentsschemas_insert_body_type_1_item)




    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> DocumentBody | list[DocumentBody] | Problem | Receipt | None:
    if response.status_code == 201:
        def _parse_response_201(data: object) -> DocumentBody | list[DocumentBody]:
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_inserted_type_0 = DocumentBody.from_dict(data)



                return componentsschemas_inserted_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            if not isinstance(data, list):
                raise TypeError()
            componentsschemas_inserted_type_1 = []
            _componentsschemas_inserted_type_1 = data
            for componentsschemas_inserted_type_1_item_data in (_componentsschemas_inserted_type_1):
                componentsschemas_inserted_type_1_item = DocumentBody.from_dict(componentsschemas_inserted_type_1_item_data)



                componentsschemas_inserted_type_1.append(componentsschemas_inserted_type_1_item)

            return componentsschemas_inserted_type_1

        response_201 = _parse_response_201(response.json())

        return response_201

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

    if response.status_code == 409:
        response_409 = Problem.from_dict(response.json())



        return response_409

    if response.status_code == 413:
        response_413 = Problem.from_dict(response.json())



        return response_413

    if response.status_code == 415:
        response_415 = Problem.from_dict(response.json())



        return response_415

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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[DocumentBody | list[DocumentBody] | Problem | Receipt]:
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
    body: list[NewDocument] | NewDocument,
    prefer: None | str | Unset = UNSET,

) -> Response[DocumentBody | list[DocumentBody] | Problem | Receipt]:
    """ Insert one document, or an array of documents atomically.

    Args:
        table (str):
        prefer (None | str | Unset):
        body (list[NewDocument] | NewDocument): A document to insert, or an array of them
            (inserted atomically: all or none). Field names
            must not start with `_`.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[DocumentBody | list[DocumentBody] | Problem | Receipt]
     """


    kwargs = _get_kwargs(
        table=table,
body=body,
prefer=prefer,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    table: str,
    *,
    client: AuthenticatedClient,
    body: list[NewDocument] | NewDocument,
    prefer: None | str | Unset = UNSET,

) -> DocumentBody | list[DocumentBody] | Problem | Receipt | None:
    """ Insert one document, or an array of documents atomically.

    Args:
        table (str):
        prefer (None | str | Unset):
        body (list[NewDocument] | NewDocument): A document to insert, or an array of them
            (inserted atomically: all or none). Field names
            must not start with `_`.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        DocumentBody | list[DocumentBody] | Problem | Receipt
     """


    return sync_detailed(
        table=table,
client=client,
body=body,
prefer=prefer,

    ).parsed

async def asyncio_detailed(
    table: str,
    *,
    client: AuthenticatedClient,
    body: list[NewDocument] | NewDocument,
    prefer: None | str | Unset = UNSET,

) -> Response[DocumentBody | list[DocumentBody] | Problem | Receipt]:
    """ Insert one document, or an array of documents atomically.

    Args:
        table (str):
        prefer (None | str | Unset):
        body (list[NewDocument] | NewDocument): A document to insert, or an array of them
            (inserted atomically: all or none). Field names
            must not start with `_`.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[DocumentBody | list[DocumentBody] | Problem | Receipt]
     """


    kwargs = _get_kwargs(
        table=table,
body=body,
prefer=prefer,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    table: str,
    *,
    client: AuthenticatedClient,
    body: list[NewDocument] | NewDocument,
    prefer: None | str | Unset = UNSET,

) -> DocumentBody | list[DocumentBody] | Problem | Receipt | None:
    """ Insert one document, or an array of documents atomically.

    Args:
        table (str):
        prefer (None | str | Unset):
        body (list[NewDocument] | NewDocument): A document to insert, or an array of them
            (inserted atomically: all or none). Field names
            must not start with `_`.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        DocumentBody | list[DocumentBody] | Problem | Receipt
     """


    return (await asyncio_detailed(
        table=table,
client=client,
body=body,
prefer=prefer,

    )).parsed
