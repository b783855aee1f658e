from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.capabilities import Capabilities
  from ..models.outbox_status import OutboxStatus
  from ..models.replica import Replica
  from ..models.transaction_status import TransactionStatus





T = TypeVar("T", bound="AdminStatus")



@_attrs_define
class AdminStatus:
    """ The gateway's state, for operators.

        Attributes:
            store (str): The store adapter (`local`, `convex` or `postgres`).
            instance (str): This replica's name (`GATEWAY_INSTANCE_ID`), as `gateway_instance_info` labels it.
            capabilities (Capabilities): What an adapter can do. Callers, `/admin/status` and the shared store suite ask for
                these,
                never for an adapter's kind, so a new adapter states its abilities in one place.
            version (str):
            active_transactions (int):
            transactions (list[TransactionStatus]):
            store_round_trips (int | None | Unset): Round trips to the database so far, for adapters that count them
                (Postgres): a list is
                one, or two with row-level security set-up.
            circuit (None | str | Unset): The Convex circuit breaker (`closed`, `open`, `half_open`), in front of Convex.
            upstream_retries (int | None | Unset): Retries of idempotent Convex calls so far.
            outbox (None | OutboxStatus | Unset):
            replicas (list[Replica] | None | Unset): With the shared state store (`GATEWAY_STATE_URL`): every replica seen
                in the last hour,
                from the heartbeat table.
     """

    store: str
    instance: str
    capabilities: Capabilities
    version: str
    active_transactions: int
    transactions: list[TransactionStatus]
    store_round_trips: int | None | Unset = UNSET
    circuit: None | str | Unset = UNSET
    upstream_retries: int | None | Unset = UNSET
    outbox: None | OutboxStatus | Unset = UNSET
    replicas: list[Replica] | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.capabilities import Capabilities # noqa: PLC0415
        from ..models.outbox_status import OutboxStatus # noqa: PLC0415
        from ..models.replica import Replica # noqa: PLC0415
        from ..models.transaction_status import TransactionStatus # noqa: PLC0415
        store = self.store

        instance = self.instance

        capabilities = self.capabilities.to_dict()

        version = self.version

        active_transactions = self.active_transactions

        transactions = []
        for transactions_item_data in self.transactions:
            transactions_item = transactions_item_data.to_dict()
            transactions.append(transactions_item)



        store_round_trips: int | None | Unset
        if isinstance(self.store_round_trips, Unset):
            store_round_trips = UNSET
        else:
            store_round_trips = self.store_round_trips

        circuit: None | str | Unset
        if isinstance(self.circuit, Unset):
            circuit = UNSET
        else:
            circuit = self.circuit

        upstream_retries: int | None | Unset
        if isinstance(self.upstream_retries, Unset):
            upstream_retries = UNSET
        else:
            upstream_retries = self.upstream_retries

        outbox: dict[str, Any] | None | Unset
        if isinstance(self.outbox, Unset):
            outbox = UNSET
        elif isinstance(self.outbox, OutboxStatus):
            outbox = self.outbox.to_dict()
        else:
            outbox = self.outbox

        replicas: list[dict[str, Any]] | None | Unset
        if isinstance(self.replicas, Unset):
            replicas = UNSET
        elif isinstance(self.replicas, list):
            replicas = []
            for replicas_type_0_item_data in self.replicas:
                replicas_type_0_item = replicas_type_0_item_data.to_dict()
                replicas.append(replicas_type_0_item)


        else:
            replicas = self.replicas


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "store": store,
            "instance": instance,
            "capabilities": capabilities,
            "version": version,
            "activeTransactions": active_transactions,
            "transactions": transactions,
        })
        if store_round_trips is not UNSET:
            field_dict["storeRoundTrips"] = store_round_trips
        if circuit is not UNSET:
            field_dict["circuit"] = circuit
        if upstream_retries is not UNSET:
            field_dict["upstreamRetries"] = upstream_retries
        if outbox is not UNSET:
            field_dict["outbox"] = outbox
        if replicas is not UNSET:
            field_dict["replicas"] = replicas

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.capabilities import Capabilities # noqa: PLC0415
        from ..models.outbox_status import OutboxStatus # noqa: PLC0415
        from ..models.replica import Replica # noqa: PLC0415
        from ..models.transaction_status import TransactionStatus # noqa: PLC0415
        d = dict(src_dict)
        store = d.pop("store")

        instance = d.pop("instance")

        capabilities = Capabilities.from_dict(d.pop("capabilities"))




        version = d.pop("version")

        active_transactions = d.pop("activeTransactions")

        transactions = []
        _transactions = d.pop("transactions")
        for transactions_item_data in (_transactions):
            transactions_item = TransactionStatus.from_dict(transactions_item_data)



            transactions.append(transactions_item)


        def _parse_store_round_trips(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        store_round_trips = _parse_store_round_trips(d.pop("storeRoundTrips", UNSET))


        def _parse_circuit(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        circuit = _parse_circuit(d.pop("circuit", UNSET))


        def _parse_upstream_retries(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        upstream_retries = _parse_upstream_retries(d.pop("upstreamRetries", UNSET))


        def _parse_outbox(data: object) -> None | OutboxStatus | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                outbox_type_0 = OutboxStatus.from_dict(data)



                return outbox_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | OutboxStatus | Unset, data)

        outbox = _parse_outbox(d.pop("outbox", UNSET))


        def _parse_replicas(data: object) -> list[Replica] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                replicas_type_0 = []
                _replicas_type_0 = data
                for replicas_type_0_item_data in (_replicas_type_0):
                    replicas_type_0_item = Replica.from_dict(replicas_type_0_item_data)



                    replicas_type_0.append(replicas_type_0_item)

                return replicas_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[Replica] | None | Unset, data)

        replicas = _parse_replicas(d.pop("replicas", UNSET))


        admin_status = cls(
            store=store,
            instance=instance,
            capabilities=capabilities,
            version=version,
            active_transactions=active_transactions,
            transactions=transactions,
            store_round_trips=store_round_trips,
            circuit=circuit,
            upstream_retries=upstream_retries,
            outbox=outbox,
            replicas=replicas,
        )


        admin_status.additional_properties = d
        return admin_status

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
