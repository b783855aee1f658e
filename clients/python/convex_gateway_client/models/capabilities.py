from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="Capabilities")



@_attrs_define
class Capabilities:
    """ What an adapter can do. Callers, `/admin/status` and the shared store suite ask for these,
    never for an adapter's kind, so a new adapter states its abilities in one place.

        Attributes:
            free_form_documents (bool): Documents are free-form JSON objects; `false` for rows of fixed columns, where a
                field
                the table lacks is refused.
            any_order (bool): Any order is served (the store sorts); `false` when an order needs an index and the rest
                are answered `400 order_needs_index`.
            mixed_directions (bool): One order may mix directions (`a.desc,b.asc`); `false` when an index serves one
                direction only.
            caller_identity (bool): Calls carry the caller's identity to the store (`StoreCtx::identity`), which then
                enforces its own access rules as well.
            change_feed (bool): The store keeps a change log: `changes` answers every committed write in order.
     """

    free_form_documents: bool
    any_order: bool
    mixed_directions: bool
    caller_identity: bool
    change_feed: bool
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        free_form_documents = self.free_form_documents

        any_order = self.any_order

        mixed_directions = self.mixed_directions

        caller_identity = self.caller_identity

        change_feed = self.change_feed


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "freeFormDocuments": free_form_documents,
            "anyOrder": any_order,
            "mixedDirections": mixed_directions,
            "callerIdentity": caller_identity,
            "changeFeed": change_feed,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        free_form_documents = d.pop("freeFormDocuments")

        any_order = d.pop("anyOrder")

        mixed_directions = d.pop("mixedDirections")

        caller_identity = d.pop("callerIdentity")

        change_feed = d.pop("changeFeed")

        capabilities = cls(
            free_form_documents=free_form_documents,
            any_order=any_order,
            mixed_directions=mixed_directions,
            caller_identity=caller_identity,
            change_feed=change_feed,
        )


        capabilities.additional_properties = d
        return capabilities

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
