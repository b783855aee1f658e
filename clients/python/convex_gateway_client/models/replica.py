from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="Replica")



@_attrs_define
class Replica:
    """ One replica as `/admin/status` lists it.

        Attributes:
            id (str): `GATEWAY_INSTANCE_ID`, or host name and process id.
            version (str): The gateway's version.
            started (str): When it started (RFC 3339).
            last_seen (str): When it last reported (RFC 3339).
            live (bool): Whether it reported within the last 30 seconds.
     """

    id: str
    version: str
    started: str
    last_seen: str
    live: bool
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        id = self.id

        version = self.version

        started = self.started

        last_seen = self.last_seen

        live = self.live


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "id": id,
            "version": version,
            "started": started,
            "lastSeen": last_seen,
            "live": live,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        version = d.pop("version")

        started = d.pop("started")

        last_seen = d.pop("lastSeen")

        live = d.pop("live")

        replica = cls(
            id=id,
            version=version,
            started=started,
            last_seen=last_seen,
            live=live,
        )


        replica.additional_properties = d
        return replica

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
