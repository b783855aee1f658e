from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.entry import Entry





T = TypeVar("T", bound="OutboxList")



@_attrs_define
class OutboxList:
    """ The outbox, oldest first.

        Attributes:
            depth (int): Queued entries right now.
            oldest_age_seconds (float): Seconds the oldest queued entry has waited.
            items (list[Entry]):
     """

    depth: int
    oldest_age_seconds: float
    items: list[Entry]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.entry import Entry # noqa: PLC0415
        depth = self.depth

        oldest_age_seconds = self.oldest_age_seconds

        items = []
        for items_item_data in self.items:
            items_item = items_item_data.to_dict()
            items.append(items_item)




        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "depth": depth,
            "oldestAgeSeconds": oldest_age_seconds,
            "items": items,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.entry import Entry # noqa: PLC0415
        d = dict(src_dict)
        depth = d.pop("depth")

        oldest_age_seconds = d.pop("oldestAgeSeconds")

        items = []
        _items = d.pop("items")
        for items_item_data in (_items):
            items_item = Entry.from_dict(items_item_data)



            items.append(items_item)


        outbox_list = cls(
            depth=depth,
            oldest_age_seconds=oldest_age_seconds,
            items=items,
        )


        outbox_list.additional_properties = d
        return outbox_list

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
