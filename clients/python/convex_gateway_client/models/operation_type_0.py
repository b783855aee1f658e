from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.operation_type_0_op import OperationType0Op
from typing import cast

if TYPE_CHECKING:
  from ..models.new_document import NewDocument





T = TypeVar("T", bound="OperationType0")



@_attrs_define
class OperationType0:
    """ Insert `document` into `table`.

        Attributes:
            table (str):
            document (NewDocument): A document's fields, as a JSON object. Names must not start with `_`.
            op (OperationType0Op):
     """

    table: str
    document: NewDocument
    op: OperationType0Op
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.new_document import NewDocument # noqa: PLC0415
        table = self.table

        document = self.document.to_dict()

        op = self.op.value


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "table": table,
            "document": document,
            "op": op,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.new_document import NewDocument # noqa: PLC0415
        d = dict(src_dict)
        table = d.pop("table")

        document = NewDocument.from_dict(d.pop("document"))




        op = OperationType0Op(d.pop("op"))




        operation_type_0 = cls(
            table=table,
            document=document,
            op=op,
        )


        operation_type_0.additional_properties = d
        return operation_type_0

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
