from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.change_op import ChangeOp
from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.change_document_type_0 import ChangeDocumentType0
  from ..models.change_previous_type_0 import ChangePreviousType0





T = TypeVar("T", bound="Change")



@_attrs_define
class Change:
    """ One committed change.

        Attributes:
            position (int): Where the change stands in the feed: positions grow in commit order and are never
                reused.
            table (str):
            id (str): The document's `_id`.
            op (ChangeOp): What a change did to its document.
            version (int): The document's version after the change (for a delete, the version it was deleted at).
            committed_at (float): Milliseconds since the Unix epoch when the change was committed.
            document (ChangeDocumentType0 | None | Unset): The document after the change; `null` for a delete (a tombstone).
            previous (ChangePreviousType0 | None | Unset): The document before the change, for an update or a delete: what a
                consumer needs to
                tell whether the document was in its view before (a live query's `leave`, a sync's
                conflict check). `null` for an insert, and for changes recorded before the gateway kept
                it (Postgres: until `convex-gateway postgres install` is run again).
     """

    position: int
    table: str
    id: str
    op: ChangeOp
    version: int
    committed_at: float
    document: ChangeDocumentType0 | None | Unset = UNSET
    previous: ChangePreviousType0 | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.change_document_type_0 import ChangeDocumentType0 # noqa: PLC0415
        from ..models.change_previous_type_0 import ChangePreviousType0 # noqa: PLC0415
        position = self.position

        table = self.table

        id = self.id

        op = self.op.value

        version = self.version

        committed_at = self.committed_at

        document: dict[str, Any] | None | Unset
        if isinstance(self.document, Unset):
            document = UNSET
        elif isinstance(self.document, ChangeDocumentType0):
            document = self.document.to_dict()
        else:
            document = self.document

        previous: dict[str, Any] | None | Unset
        if isinstance(self.previous, Unset):
            previous = UNSET
        elif isinstance(self.previous, ChangePreviousType0):
            previous = self.previous.to_dict()
        else:
            previous = self.previous


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "position": position,
            "table": table,
            "id": id,
            "op": op,
            "version": version,
            "committedAt": committed_at,
        })
        if document is not UNSET:
            field_dict["document"] = document
        if previous is not UNSET:
            field_dict["previous"] = previous

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.change_document_type_0 import ChangeDocumentType0 # noqa: PLC0415
        from ..models.change_previous_type_0 import ChangePreviousType0 # noqa: PLC0415
        d = dict(src_dict)
        position = d.pop("position")

        table = d.pop("table")

        id = d.pop("id")

        op = ChangeOp(d.pop("op"))




        version = d.pop("version")

        committed_at = d.pop("committedAt")

        def _parse_document(data: object) -> ChangeDocumentType0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                document_type_0 = ChangeDocumentType0.from_dict(data)



                return document_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(ChangeDocumentType0 | None | Unset, data)

        document = _parse_document(d.pop("document", UNSET))


        def _parse_previous(data: object) -> ChangePreviousType0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                previous_type_0 = ChangePreviousType0.from_dict(data)



                return previous_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(ChangePreviousType0 | None | Unset, data)

        previous = _parse_previous(d.pop("previous", UNSET))


        change = cls(
            position=position,
            table=table,
            id=id,
            op=op,
            version=version,
            committed_at=committed_at,
            document=document,
            previous=previous,
        )


        change.additional_properties = d
        return change

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
