from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="ReadyStatus")



@_attrs_define
class ReadyStatus:
    """ Readiness: the store answers.

        Attributes:
            status (str): Always `ready`. Example: ready.
            store (str): The store adapter in use (`local`, …). Example: local.
            circuit (None | str | Unset): The circuit breaker in front of Convex: `closed`, `open` or `half_open`.
     """

    status: str
    store: str
    circuit: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        status = self.status

        store = self.store

        circuit: None | str | Unset
        if isinstance(self.circuit, Unset):
            circuit = UNSET
        else:
            circuit = self.circuit


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "status": status,
            "store": store,
        })
        if circuit is not UNSET:
            field_dict["circuit"] = circuit

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        status = d.pop("status")

        store = d.pop("store")

        def _parse_circuit(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        circuit = _parse_circuit(d.pop("circuit", UNSET))


        ready_status = cls(
            status=status,
            store=store,
            circuit=circuit,
        )


        ready_status.additional_properties = d
        return ready_status

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
