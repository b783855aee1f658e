from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.direction_status_position import DirectionStatusPosition





T = TypeVar("T", bound="DirectionStatus")



@_attrs_define
class DirectionStatus:
    """ One pair in one direction.

        Attributes:
            table (str): The Postgres table.
            convex_table (str): The Convex table.
            direction (str): `to_postgres` or `to_convex`.
            state (str): `starting`, `backfilling`, `live`, `paused` or `failed` (the last attempt failed; it is
                retried).
            position (DirectionStatusPosition): Where the direction has reached: its checkpoint (Convex's cursor, or the
                change feed's
                position, and the backfill's progress).
            lag_seconds (float): Seconds from the commit of the newest change applied to its arrival; for `to_convex`,
                the age of the oldest change still waiting.
            applied (int): Rows written on the other side.
            row_errors (int): Rows recorded in `gateway.sync_errors` for this pair and direction.
            lag_changes (int | None | Unset): Changes waiting to be sent (`to_convex`; Convex's log does not say, so `null`
                for
                `to_postgres`).
            last_error (None | str | Unset): The last failure, until a later page succeeds.
     """

    table: str
    convex_table: str
    direction: str
    state: str
    position: DirectionStatusPosition
    lag_seconds: float
    applied: int
    row_errors: int
    lag_changes: int | None | Unset = UNSET
    last_error: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.direction_status_position import DirectionStatusPosition # noqa: PLC0415
        table = self.table

        convex_table = self.convex_table

        direction = self.direction

        state = self.state

        position = self.position.to_dict()

        lag_seconds = self.lag_seconds

        applied = self.applied

        row_errors = self.row_errors

        lag_changes: int | None | Unset
        if isinstance(self.lag_changes, Unset):
            lag_changes = UNSET
        else:
            lag_changes = self.lag_changes

        last_error: None | str | Unset
        if isinstance(self.last_error, Unset):
            last_error = UNSET
        else:
            last_error = self.last_error


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "table": table,
            "convexTable": convex_table,
            "direction": direction,
            "state": state,
            "position": position,
            "lagSeconds": lag_seconds,
            "applied": applied,
            "rowErrors": row_errors,
        })
        if lag_changes is not UNSET:
            field_dict["lagChanges"] = lag_changes
        if last_error is not UNSET:
            field_dict["lastError"] = last_error

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.direction_status_position import DirectionStatusPosition # noqa: PLC0415
        d = dict(src_dict)
        table = d.pop("table")

        convex_table = d.pop("convexTable")

        direction = d.pop("direction")

        state = d.pop("state")

        position = DirectionStatusPosition.from_dict(d.pop("position"))




        lag_seconds = d.pop("lagSeconds")

        applied = d.pop("applied")

        row_errors = d.pop("rowErrors")

        def _parse_lag_changes(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        lag_changes = _parse_lag_changes(d.pop("lagChanges", UNSET))


        def _parse_last_error(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        last_error = _parse_last_error(d.pop("lastError", UNSET))


        direction_status = cls(
            table=table,
            convex_table=convex_table,
            direction=direction,
            state=state,
            position=position,
            lag_seconds=lag_seconds,
            applied=applied,
            row_errors=row_errors,
            lag_changes=lag_changes,
            last_error=last_error,
        )


        direction_status.additional_properties = d
        return direction_status

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
