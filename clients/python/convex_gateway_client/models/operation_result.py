from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.document_body import DocumentBody





T = TypeVar("T", bound="OperationResult")



@_attrs_define
class OperationResult:
    """ The result of one operation.

        Attributes:
            op (str): `insert`, `patch`, `replace`, `delete` or `check`.
            id (str): The document's id.
            version (int | None | Unset): The document's version after the operation (absent for deletes).
            document (DocumentBody | None | Unset):
     """

    op: str
    id: str
    version: int | None | Unset = UNSET
    document: DocumentBody | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.document_body import DocumentBody # noqa: PLC0415
        op = self.op

        id = self.id

        version: int | None | Unset
        if isinstance(self.version, Unset):
            version = UNSET
        else:
            version = self.version

        document: dict[str, Any] | None | Unset
        if isinstance(self.document, Unset):
            document = UNSET
        elif isinstance(self.document, DocumentBody):
            document = self.document.to_dict()
        else:
            document = self.document


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "op": op,
            "id": id,
        })
        if version is not UNSET:
            field_dict["version"] = version
        if document is not UNSET:
            field_dict["document"] = document

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.document_body import DocumentBody # noqa: PLC0415
        d = dict(src_dict)
        op = d.pop("op")

        id = d.pop("id")

        def _parse_version(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        version = _parse_version(d.pop("version", UNSET))


        def _parse_document(data: object) -> DocumentBody | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                document_type_0 = DocumentBody.from_dict(data)



                return document_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(DocumentBody | None | Unset, data)

        document = _parse_document(d.pop("document", UNSET))


        operation_result = cls(
            op=op,
            id=id,
            version=version,
            document=document,
        )


        operation_result.additional_properties = d
        return operation_result

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
