from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.operation_type_1_op import OperationType1Op
from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.batch_ref import BatchRef
  from ..models.merge_patch import MergePatch





T = TypeVar("T", bound="OperationType1")



@_attrs_define
class OperationType1:
    """ Apply a JSON Merge Patch.

        Attributes:
            table (str):
            id (BatchRef | str): Which document an operation acts on: its id, or `{"$ref": "N"}` for the document that
                operation N of this batch inserted or touched.
            patch (MergePatch): A JSON Merge Patch (RFC 7396): fields to set, `null` to remove a field.
            op (OperationType1Op):
            version (int | None | Unset):
     """

    table: str
    id: BatchRef | str
    patch: MergePatch
    op: OperationType1Op
    version: int | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.batch_ref import BatchRef # noqa: PLC0415
        from ..models.merge_patch import MergePatch # noqa: PLC0415
        table = self.table

        id: dict[str, Any] | str
        if isinstance(self.id, BatchRef):
            id = self.id.to_dict()
        else:
            id = self.id

        patch = self.patch.to_dict()

        op = self.op.value

        version: int | None | Unset
        if isinstance(self.version, Unset):
            version = UNSET
        else:
            version = self.version


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "table": table,
            "id": id,
            "patch": patch,
            "op": op,
        })
        if version is not UNSET:
            field_dict["version"] = version

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.batch_ref import BatchRef # noqa: PLC0415
        from ..models.merge_patch import MergePatch # noqa: PLC0415
        d = dict(src_dict)
        table = d.pop("table")

        def _parse_id(data: object) -> BatchRef | str:
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_document_ref_type_1 = BatchRef.from_dict(data)



                return componentsschemas_document_ref_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(BatchRef | str, data)

        id = _parse_id(d.pop("id"))


        patch = MergePatch.from_dict(d.pop("patch"))




        op = OperationType1Op(d.pop("op"))




        def _parse_version(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        version = _parse_version(d.pop("version", UNSET))


        operation_type_1 = cls(
            table=table,
            id=id,
            patch=patch,
            op=op,
            version=version,
        )


        operation_type_1.additional_properties = d
        return operation_type_1

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
