from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.token_request_claims_type_0 import TokenRequestClaimsType0





T = TypeVar("T", bound="TokenRequest")



@_attrs_define
class TokenRequest:
    """ A token request. `grant_type` selects the case:
    - `client_credentials`: `client_id` and `client_secret` of a service account;
    - `refresh_token`: `refresh_token` (same as `POST /auth/refresh`);
    - `mint` (admin bearer token required): `sub`, optional `roles`, `ttl_seconds`, `claims`.

    Sent as JSON or as `application/x-www-form-urlencoded` (not for `mint`).

        Attributes:
            grant_type (str):
            client_id (None | str | Unset):
            client_secret (None | str | Unset):
            refresh_token (None | str | Unset):
            sub (None | str | Unset):
            roles (list[str] | None | Unset):
            ttl_seconds (int | None | Unset):
            claims (None | TokenRequestClaimsType0 | Unset): Extra claims for a minted token (`name`, `email`, …);
                registered claims are ignored.
     """

    grant_type: str
    client_id: None | str | Unset = UNSET
    client_secret: None | str | Unset = UNSET
    refresh_token: None | str | Unset = UNSET
    sub: None | str | Unset = UNSET
    roles: list[str] | None | Unset = UNSET
    ttl_seconds: int | None | Unset = UNSET
    claims: None | TokenRequestClaimsType0 | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.token_request_claims_type_0 import TokenRequestClaimsType0 # noqa: PLC0415
        grant_type = self.grant_type

        client_id: None | str | Unset
        if isinstance(self.client_id, Unset):
            client_id = UNSET
        else:
            client_id = self.client_id

        client_secret: None | str | Unset
        if isinstance(self.client_secret, Unset):
            client_secret = UNSET
        else:
            client_secret = self.client_secret

        refresh_token: None | str | Unset
        if isinstance(self.refresh_token, Unset):
            refresh_token = UNSET
        else:
            refresh_token = self.refresh_token

        sub: None | str | Unset
        if isinstance(self.sub, Unset):
            sub = UNSET
        else:
            sub = self.sub

        roles: list[str] | None | Unset
        if isinstance(self.roles, Unset):
            roles = UNSET
        elif isinstance(self.roles, list):
            roles = self.roles


        else:
            roles = self.roles

        ttl_seconds: int | None | Unset
        if isinstance(self.ttl_seconds, Unset):
            ttl_seconds = UNSET
        else:
            ttl_seconds = self.ttl_seconds

        claims: dict[str, Any] | None | Unset
        if isinstance(self.claims, Unset):
            claims = UNSET
        elif isinstance(self.claims, TokenRequestClaimsType0):
            claims = self.claims.to_dict()
        else:
            claims = self.claims


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "grant_type": grant_type,
        })
        if client_id is not UNSET:
            field_dict["client_id"] = client_id
        if client_secret is not UNSET:
            field_dict["client_secret"] = client_secret
        if refresh_token is not UNSET:
            field_dict["refresh_token"] = refresh_token
        if sub is not UNSET:
            field_dict["sub"] = sub
        if roles is not UNSET:
            field_dict["roles"] = roles
        if ttl_seconds is not UNSET:
            field_dict["ttl_seconds"] = ttl_seconds
        if claims is not UNSET:
            field_dict["claims"] = claims

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.token_request_claims_type_0 import TokenRequestClaimsType0 # noqa: PLC0415
        d = dict(src_dict)
        grant_type = d.pop("grant_type")

        def _parse_client_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        client_id = _parse_client_id(d.pop("client_id", UNSET))


        def _parse_client_secret(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        client_secret = _parse_client_secret(d.pop("client_secret", UNSET))


        def _parse_refresh_token(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        refresh_token = _parse_refresh_token(d.pop("refresh_token", UNSET))


        def _parse_sub(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        sub = _parse_sub(d.pop("sub", UNSET))


        def _parse_roles(data: object) -> list[str] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                roles_type_0 = cast(list[str], data)

                return roles_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[str] | None | Unset, data)

        roles = _parse_roles(d.pop("roles", UNSET))


        def _parse_ttl_seconds(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        ttl_seconds = _parse_ttl_seconds(d.pop("ttl_seconds", UNSET))


        def _parse_claims(data: object) -> None | TokenRequestClaimsType0 | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                claims_type_0 = TokenRequestClaimsType0.from_dict(data)



                return claims_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | TokenRequestClaimsType0 | Unset, data)

        claims = _parse_claims(d.pop("claims", UNSET))


        token_request = cls(
            grant_type=grant_type,
            client_id=client_id,
            client_secret=client_secret,
            refresh_token=refresh_token,
            sub=sub,
            roles=roles,
            ttl_seconds=ttl_seconds,
            claims=claims,
        )


        token_request.additional_properties = d
        return token_request

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
