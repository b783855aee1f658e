from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="TransactionStatus")



@_attrs_define
class TransactionStatus:
    """ One open transaction.

        Attributes:
            id (str):
            owner (str):
            age_seconds (float):
            staged_operations (int):
     """

    id: str
    owner: str
    age_seconds: float
    staged_operations: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        id = self.id

        owner = self.owner

        age_seconds = self.age_seconds

        staged_operations = self.staged_operations


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "id": id,
            "owner": owner,
            "ageSeconds": age_seconds,
            "stagedOperations": staged_operations,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        owner = d.pop("owner")

        age_seconds = d.pop("ageSeconds")

        staged_operations = d.pop("stagedOperations")

        transaction_status = cls(
            id=id,
            owner=owner,
            age_seconds=age_seconds,
            staged_operations=staged_operations,
        )


        transaction_status.additional_properties = d
        return transaction_status

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
