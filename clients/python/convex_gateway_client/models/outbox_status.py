from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.outbox_status_counts import OutboxStatusCounts





T = TypeVar("T", bound="OutboxStatus")



@_attrs_define
class OutboxStatus:
    """ The outbox at a glance.

        Attributes:
            depth (int): Queued entries.
            oldest_age_seconds (float): Seconds the oldest queued entry has waited.
            counts (OutboxStatusCounts): Entries by status (`queued`, `delivered`, `dead`, `discarded`).
     """

    depth: int
    oldest_age_seconds: float
    counts: OutboxStatusCounts
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.outbox_status_counts import OutboxStatusCounts # noqa: PLC0415
        depth = self.depth

        oldest_age_seconds = self.oldest_age_seconds

        counts = self.counts.to_dict()


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "depth": depth,
            "oldestAgeSeconds": oldest_age_seconds,
            "counts": counts,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.outbox_status_counts import OutboxStatusCounts # noqa: PLC0415
        d = dict(src_dict)
        depth = d.pop("depth")

        oldest_age_seconds = d.pop("oldestAgeSeconds")

        counts = OutboxStatusCounts.from_dict(d.pop("counts"))




        outbox_status = cls(
            depth=depth,
            oldest_age_seconds=oldest_age_seconds,
            counts=counts,
        )


        outbox_status.additional_properties = d
        return outbox_status

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
