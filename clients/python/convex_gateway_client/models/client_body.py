from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast






T = TypeVar("T", bound="ClientBody")



@_attrs_define
class ClientBody:
    """ A service account, as listed (never with its secret).

        Attributes:
            id (str):
            roles (list[str]):
            source (str): `policy` (declared in the policy file) or `admin` (created here).
            created_at (int): Seconds since the Unix epoch.
     """

    id: str
    roles: list[str]
    source: str
    created_at: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        id = self.id

        roles = self.roles



        source = self.source

        created_at = self.created_at


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "id": id,
            "roles": roles,
            "source": source,
            "createdAt": created_at,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        roles = cast(list[str], d.pop("roles"))


        source = d.pop("source")

        created_at = d.pop("createdAt")

        client_body = cls(
            id=id,
            roles=roles,
            source=source,
            created_at=created_at,
        )


        client_body.additional_properties = d
        return client_body

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
