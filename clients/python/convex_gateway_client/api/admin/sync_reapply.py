from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.conflict_record import ConflictRecord
from ...models.problem import Problem
from typing import cast



def _get_kwargs(
    seq: int,

) -> dict[str, Any]:
    

    

    

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/admin/sync/conflicts/{seq}/reapply".format(seq=quote(str(seq), safe=""),),
    }


    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> ConflictRecord | Problem | None:
    if response.status_code == 200:
        response_200 = ConflictRecord.from_dict(response.json())



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

    if response.status_code == 409:
        response_409 = Problem.from_dict(response.json())



        return response_409

    if response.status_code == 503:
        response_503 = Problem.from_dict(response.json())



        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[ConflictRecord | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    seq: int,
    *,
    client: AuthenticatedClient,

) -> Response[ConflictRecord | Problem]:
    """ Re-apply a conflict's losing side (admin): its version is written again on its own side,
    as a new change there, and the sync carries it to the other side. Once per conflict.

    Args:
        seq (int):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ConflictRecord | Problem]
     """


    kwargs = _get_kwargs(
        seq=seq,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    seq: int,
    *,
    client: AuthenticatedClient,

) -> ConflictRecord | Problem | None:
    """ Re-apply a conflict's losing side (admin): its version is written again on its own side,
    as a new change there, and the sync carries it to the other side. Once per conflict.

    Args:
        seq (int):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ConflictRecord | Problem
     """


    return sync_detailed(
        seq=seq,
client=client,

    ).parsed

async def asyncio_detailed(
    seq: int,
    *,
    client: AuthenticatedClient,

) -> Response[ConflictRecord | Problem]:
    """ Re-apply a conflict's losing side (admin): its version is written again on its own side,
    as a new change there, and the sync carries it to the other side. Once per conflict.

    Args:
        seq (int):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ConflictRecord | Problem]
     """


    kwargs = _get_kwargs(
        seq=seq,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    seq: int,
    *,
    client: AuthenticatedClient,

) -> ConflictRecord | Problem | None:
    """ Re-apply a conflict's losing side (admin): its version is written again on its own side,
    as a new change there, and the sync carries it to the other side. Once per conflict.

    Args:
        seq (int):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ConflictRecord | Problem
     """


    return (await asyncio_detailed(
        seq=seq,
client=client,

    )).parsed
