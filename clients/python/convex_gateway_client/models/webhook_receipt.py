from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.webhook_status import WebhookStatus
from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="WebhookReceipt")



@_attrs_define
class WebhookReceipt:
    """ The answer to a verified delivery.

        Attributes:
            status (WebhookStatus): What happened to a delivery.
            webhook (str): The webhook's name.
            id (str): The provider's message id (or, without one, the body's SHA-256).
            event_type (None | str | Unset): The event type, when the event names one.
            first (None | Unset | WebhookStatus):
            outbox_id (None | str | Unset): For `queued`: where to follow it (`GET /admin/outbox`).
     """

    status: WebhookStatus
    webhook: str
    id: str
    event_type: None | str | Unset = UNSET
    first: None | Unset | WebhookStatus = UNSET
    outbox_id: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        status = self.status.value

        webhook = self.webhook

        id = self.id

        event_type: None | str | Unset
        if isinstance(self.event_type, Unset):
            event_type = UNSET
        else:
            event_type = self.event_type

        first: None | str | Unset
        if isinstance(self.first, Unset):
            first = UNSET
        elif isinstance(self.first, WebhookStatus):
            first = self.first.value
        else:
            first = self.first

        outbox_id: None | str | Unset
        if isinstance(self.outbox_id, Unset):
            outbox_id = UNSET
        else:
            outbox_id = self.outbox_id


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "status": status,
            "webhook": webhook,
            "id": id,
        })
        if event_type is not UNSET:
            field_dict["eventType"] = event_type
        if first is not UNSET:
            field_dict["first"] = first
        if outbox_id is not UNSET:
            field_dict["outboxId"] = outbox_id

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        status = WebhookStatus(d.pop("status"))




        webhook = d.pop("webhook")

        id = d.pop("id")

        def _parse_event_type(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        event_type = _parse_event_type(d.pop("eventType", UNSET))


        def _parse_first(data: object) -> None | Unset | WebhookStatus:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                first_type_0 = WebhookStatus(data)



                return first_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | WebhookStatus, data)

        first = _parse_first(d.pop("first", UNSET))


        def _parse_outbox_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        outbox_id = _parse_outbox_id(d.pop("outboxId", UNSET))


        webhook_receipt = cls(
            status=status,
            webhook=webhook,
            id=id,
            event_type=event_type,
            first=first,
            outbox_id=outbox_id,
        )


        webhook_receipt.additional_properties = d
        return webhook_receipt

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
