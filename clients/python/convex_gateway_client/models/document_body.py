from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="DocumentBody")



@_attrs_define
class DocumentBody:
    """ A stored document: its fields plus the system fields `_id`, `_creationTime` and `_version`.

        Attributes:
            field_id (str): Opaque id, unique within the table.
            field_version (int): The document's version: 1 on insert, bumped by every write. It is the `ETag` (`"3"`), so
                `If-Match: "3"` makes a write conditional without another read.
            field_creation_time (float | None | Unset): Milliseconds since the Unix epoch when the document was inserted.
                Absent only for rows of
                a Postgres table without a creation-time column.
     """

    field_id: str
    field_version: int
    field_creation_time: float | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        field_id = self.field_id

        field_version = self.field_version

        field_creation_time: float | None | Unset
        if isinstance(self.field_creation_time, Unset):
            field_creation_time = UNSET
        else:
            field_creation_time = self.field_creation_time


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "_id": field_id,
            "_version": field_version,
        })
        if field_creation_time is not UNSET:
            field_dict["_creationTime"] = field_creation_time

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        field_id = d.pop("_id")

        field_version = d.pop("_version")

        def _parse_field_creation_time(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        field_creation_time = _parse_field_creation_time(d.pop("_creationTime", UNSET))


        document_body = cls(
            field_id=field_id,
            field_version=field_version,
            field_creation_time=field_creation_time,
        )


        document_body.additional_properties = d
        return document_body

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
