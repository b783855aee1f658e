from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.conflict_record_convex_version_type_0 import ConflictRecordConvexVersionType0
  from ..models.conflict_record_postgres_version_type_0 import ConflictRecordPostgresVersionType0





T = TypeVar("T", bound="ConflictRecord")



@_attrs_define
class ConflictRecord:
    """ A recorded conflict.

        Attributes:
            seq (int):
            table (str): The Postgres table.
            pg_key (str): The row's Postgres key.
            convex_id (str): The document's Convex `_id`.
            kind (str): `update` (both updated) or `delete` (a delete against an update).
            policy (str): The rule that decided: `last_modified`, `convex_wins`, `postgres_wins`, `delete_wins`
                or `update_wins`.
            winner (str): `convex` or `postgres`.
            at (str): When it was recorded (RFC 3339).
            convex_version (ConflictRecordConvexVersionType0 | None | Unset): Convex's version (`convex_encoded_json`),
                `null` if it was a delete.
            postgres_version (ConflictRecordPostgresVersionType0 | None | Unset): Postgres's version (the row), `null` if it
                was a delete.
            convex_time (float | None | Unset): Each side's commit time, in milliseconds since the epoch.
            postgres_time (float | None | Unset):
            reapplied_at (None | str | Unset): When an admin re-applied the losing side, if so.
     """

    seq: int
    table: str
    pg_key: str
    convex_id: str
    kind: str
    policy: str
    winner: str
    at: str
    convex_version: ConflictRecordConvexVersionType0 | None | Unset = UNSET
    postgres_version: ConflictRecordPostgresVersionType0 | None | Unset = UNSET
    convex_time: float | None | Unset = UNSET
    postgres_time: float | None | Unset = UNSET
    reapplied_at: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.conflict_record_convex_version_type_0 import ConflictRecordConvexVersionType0 # noqa: PLC0415
        from ..models.conflict_record_postgres_version_type_0 import ConflictRecordPostgresVersionType0 # noqa: PLC0415
        seq = self.seq

        table = self.table

        pg_key = self.pg_key

        convex_id = self.convex_id

        kind = self.kind

        policy = self.policy

        winner = self.winner

        at = self.at

        convex_version: dict[str, Any] | None | Unset
        if isinstance(self.convex_version, Unset):
            convex_version = UNSET
        elif isinstance(self.convex_version, ConflictRecordConvexVersionType0):
            convex_version = self.convex_version.to_dict()
        else:
            convex_version = self.convex_version

        postgres_version: dict[str, Any] | None | Unset
        if isinstance(self.postgres_version, Unset):
            postgres_version = UNSET
        elif isinstance(self.postgres_version, ConflictRecordPostgresVersionType0):
            postgres_version = self.postgres_version.to_dict()
        else:
            postgres_version = self.postgres_version

        convex_time: float | None | Unset
        if isinstance(self.convex_time, Unset):
            convex_time = UNSET
        else:
            convex_time = self.convex_time

        postgres_time: float | None | Unset
        if isinstance(self.postgres_time, Unset):
            postgres_time = UNSET
        else:
            postgres_time = self.postgres_time

        reapplied_at: None | str | Unset
        if isinstance(self.reapplied_at, Unset):
            reapplied_at = UNSET
        else:
            reapplied_at = self.reapplied_at


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "seq": seq,
            "table": table,
            "pgKey": pg_key,
            "convexId": convex_id,
            "kind": kind,
            "policy": policy,
            "winner": winner,
            "at": at,
        })
        if convex_version is not UNSET:
            field_dict["convexVersion"] = convex_version
        if postgres_version is not UNSET:
            field_dict["postgresVersion"] = postgres_version
        if convex_time is not UNSET:
            field_dict["convexTime"] = convex_time
        if postgres_time is not UNSET:
            field_dict["postgresTime"] = postgres_time
        if reapplied_at is not UNSET:
            field_dict["reappliedAt"] = reapplied_at

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.conflict_record_convex_version_type_0 import ConflictRecordConvexVersionType0 # noqa: PLC0415
        from ..models.conflict_record_postgres_version_type_0 import ConflictRecordPostgresVersionType0 # noqa: PLC0415
        d = dict(src_dict)
        seq = d.pop("seq")

        table = d.pop("table")

        pg_key = d.pop("pgKey")

        convex_id = d.pop("convexId")

        kind = d.pop("kind")

        policy = d.pop("policy")

        winner = d.pop("winner")

        at = d.pop("at")

        def _parse_convex_version(data: object) -> ConflictRecordConvexVersionType0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                convex_version_type_0 = ConflictRecordConvexVersionType0.from_dict(data)



                return convex_version_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(ConflictRecordConvexVersionType0 | None | Unset, data)

        convex_version = _parse_convex_version(d.pop("convexVersion", UNSET))


        def _parse_postgres_version(data: object) -> ConflictRecordPostgresVersionType0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                postgres_version_type_0 = ConflictRecordPostgresVersionType0.from_dict(data)



                return postgres_version_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(ConflictRecordPostgresVersionType0 | None | Unset, data)

        postgres_version = _parse_postgres_version(d.pop("postgresVersion", UNSET))


        def _parse_convex_time(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        convex_time = _parse_convex_time(d.pop("convexTime", UNSET))


        def _parse_postgres_time(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        postgres_time = _parse_postgres_time(d.pop("postgresTime", UNSET))


        def _parse_reapplied_at(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        reapplied_at = _parse_reapplied_at(d.pop("reappliedAt", UNSET))


        conflict_record = cls(
            seq=seq,
            table=table,
            pg_key=pg_key,
            convex_id=convex_id,
            kind=kind,
            policy=policy,
            winner=winner,
            at=at,
            convex_version=convex_version,
            postgres_version=postgres_version,
            convex_time=convex_time,
            postgres_time=postgres_time,
            reapplied_at=reapplied_at,
        )


        conflict_record.additional_properties = d
        return conflict_record

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
