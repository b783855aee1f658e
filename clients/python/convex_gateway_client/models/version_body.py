from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.version_body_fields_type_0 import VersionBodyFieldsType0





T = TypeVar("T", bound="VersionBody")



@_attrs_define
class VersionBody:
    """ One version of a document.

        Attributes:
            version (int): The version this write made; a delete is one past the last version.
            op (str): `insert`, `update`, `delete` or `revert`.
            at (float): When, in milliseconds since the Unix epoch.
            sub (None | str | Unset): The writer's `sub` (`null` for the gateway's own writes).
            fields (None | Unset | VersionBodyFieldsType0): The document's fields at this version (`null` for a delete).
     """

    version: int
    op: str
    at: float
    sub: None | str | Unset = UNSET
    fields: None | Unset | VersionBodyFieldsType0 = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.version_body_fields_type_0 import VersionBodyFieldsType0 # noqa: PLC0415
        version = self.version

        op = self.op

        at = self.at

        sub: None | str | Unset
        if isinstance(self.sub, Unset):
            sub = UNSET
        else:
            sub = self.sub

        fields: dict[str, Any] | None | Unset
        if isinstance(self.fields, Unset):
            fields = UNSET
        elif isinstance(self.fields, VersionBodyFieldsType0):
            fields = self.fields.to_dict()
        else:
            fields = self.fields


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "version": version,
            "op": op,
            "at": at,
        })
        if sub is not UNSET:
            field_dict["sub"] = sub
        if fields is not UNSET:
            field_dict["fields"] = fields

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.version_body_fields_type_0 import VersionBodyFieldsType0 # noqa: PLC0415
        d = dict(src_dict)
        version = d.pop("version")

        op = d.pop("op")

        at = d.pop("at")

        def _parse_sub(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        sub = _parse_sub(d.pop("sub", UNSET))


        def _parse_fields(data: object) -> None | Unset | VersionBodyFieldsType0:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                fields_type_0 = VersionBodyFieldsType0.from_dict(data)



                return fields_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | VersionBodyFieldsType0, data)

        fields = _parse_fields(d.pop("fields", UNSET))


        version_body = cls(
            version=version,
            op=op,
            at=at,
            sub=sub,
            fields=fields,
        )


        version_body.additional_properties = d
        return version_body

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
