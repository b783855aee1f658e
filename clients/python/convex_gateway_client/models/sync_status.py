from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.direction_status import DirectionStatus





T = TypeVar("T", bound="SyncStatus")



@_attrs_define
class SyncStatus:
    """ The sync at a glance.

        Attributes:
            tables (list[DirectionStatus]): Per pair and direction, in the configuration's order.
            conflicts (int): Conflicts recorded, and how many were re-applied.
            conflicts_reapplied (int):
     """

    tables: list[DirectionStatus]
    conflicts: int
    conflicts_reapplied: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.direction_status import DirectionStatus # noqa: PLC0415
        tables = []
        for tables_item_data in self.tables:
            tables_item = tables_item_data.to_dict()
            tables.append(tables_item)



        conflicts = self.conflicts

        conflicts_reapplied = self.conflicts_reapplied


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "tables": tables,
            "conflicts": conflicts,
            "conflictsReapplied": conflicts_reapplied,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.direction_status import DirectionStatus # noqa: PLC0415
        d = dict(src_dict)
        tables = []
        _tables = d.pop("tables")
        for tables_item_data in (_tables):
            tables_item = DirectionStatus.from_dict(tables_item_data)



            tables.append(tables_item)


        conflicts = d.pop("conflicts")

        conflicts_reapplied = d.pop("conflictsReapplied")

        sync_status = cls(
            tables=tables,
            conflicts=conflicts,
            conflicts_reapplied=conflicts_reapplied,
        )


        sync_status.additional_properties = d
        return sync_status

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
