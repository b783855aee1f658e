from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="NewClient")



@_attrs_define
class NewClient:
    """ A service account to create.

        Attributes:
            id (str): `^[A-Za-z0-9_.-]{1,64}$`.
            roles (list[str] | Unset):
     """

    id: str
    roles: list[str] | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        id = self.id

        roles: list[str] | Unset = UNSET
        if not isinstance(self.roles, Unset):
            roles = self.roles




        field_dict: dict[str, Any] = {}

        field_dict.update({
            "id": id,
        })
        if roles is not UNSET:
            field_dict["roles"] = roles

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        roles = cast(list[str], d.pop("roles", UNSET))


        new_client = cls(
            id=id,
            roles=roles,
        )

        return new_client

