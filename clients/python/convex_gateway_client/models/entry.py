from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.kind import Kind
from ..models.status import Status
from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.entry_result import EntryResult





T = TypeVar("T", bound="Entry")



@_attrs_define
class Entry:
    """ One outbox entry as callers and admins see it.

        Attributes:
            outbox_id (str):
            status (Status): Where an entry is.
            kind (Kind): What a queued write calls.
            path (str): The Convex function the write calls.
            attempts (int): Failed deliveries so far.
            created_at (int): When the write was accepted (ms since the epoch).
            updated_at (int): When the entry last changed (ms since the epoch).
            last_error (None | str | Unset): Why the last delivery failed, or why the entry is dead.
            result (EntryResult | Unset): What Convex returned, once delivered.
     """

    outbox_id: str
    status: Status
    kind: Kind
    path: str
    attempts: int
    created_at: int
    updated_at: int
    last_error: None | str | Unset = UNSET
    result: EntryResult | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.entry_result import EntryResult # noqa: PLC0415
        outbox_id = self.outbox_id

        status = self.status.value

        kind = self.kind.value

        path = self.path

        attempts = self.attempts

        created_at = self.created_at

        updated_at = self.updated_at

        last_error: None | str | Unset
        if isinstance(self.last_error, Unset):
            last_error = UNSET
        else:
            last_error = self.last_error

        result: dict[str, Any] | Unset = UNSET
        if not isinstance(self.result, Unset):
            result = self.result.to_dict()


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "outboxId": outbox_id,
            "status": status,
            "kind": kind,
            "path": path,
            "attempts": attempts,
            "createdAt": created_at,
            "updatedAt": updated_at,
        })
        if last_error is not UNSET:
            field_dict["lastError"] = last_error
        if result is not UNSET:
            field_dict["result"] = result

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.entry_result import EntryResult # noqa: PLC0415
        d = dict(src_dict)
        outbox_id = d.pop("outboxId")

        status = Status(d.pop("status"))




        kind = Kind(d.pop("kind"))




        path = d.pop("path")

        attempts = d.pop("attempts")

        created_at = d.pop("createdAt")

        updated_at = d.pop("updatedAt")

        def _parse_last_error(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        last_error = _parse_last_error(d.pop("lastError", UNSET))


        _result = d.pop("result", UNSET)
        result: EntryResult | Unset
        if isinstance(_result,  Unset):
            result = UNSET
        else:
            result = EntryResult.from_dict(_result)




        entry = cls(
            outbox_id=outbox_id,
            status=status,
            kind=kind,
            path=path,
            attempts=attempts,
            created_at=created_at,
            updated_at=updated_at,
            last_error=last_error,
            result=result,
        )


        entry.additional_properties = d
        return entry

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
