from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.error_code import ErrorCode
from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.problem_error_data_type_0 import ProblemErrorDataType0





T = TypeVar("T", bound="Problem")



@_attrs_define
class Problem:
    """ An RFC 9457 problem body.

        Attributes:
            type_ (str): A URN naming the problem type, e.g. `urn:convex-gateway:problem:not_found`.
            title (str): A short summary of the problem type.
            status (int): The HTTP status code.
            detail (str): What went wrong with this request, for people.
            code (ErrorCode): A stable, machine-readable error code. Clients branch on this, never on `detail`.
            failed_operation (int | None | Unset): For batch writes: the index of the operation that failed.
            error_data (None | ProblemErrorDataType0 | Unset): For Convex function errors: the `ConvexError` data the
                function threw.
            convex_code (None | str | Unset): For requests Convex refused: Convex's own error code (e.g. `BadJsonBody`).
            field (None | str | Unset): For values a column refuses: the field (column) at fault.
            constraint (None | str | Unset): For writes a database constraint refused: the constraint's name.
     """

    type_: str
    title: str
    status: int
    detail: str
    code: ErrorCode
    failed_operation: int | None | Unset = UNSET
    error_data: None | ProblemErrorDataType0 | Unset = UNSET
    convex_code: None | str | Unset = UNSET
    field: None | str | Unset = UNSET
    constraint: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.problem_error_data_type_0 import ProblemErrorDataType0 # noqa: PLC0415
        type_ = self.type_

        title = self.title

        status = self.status

        detail = self.detail

        code = self.code.value

        failed_operation: int | None | Unset
        if isinstance(self.failed_operation, Unset):
            failed_operation = UNSET
        else:
            failed_operation = self.failed_operation

        error_data: dict[str, Any] | None | Unset
        if isinstance(self.error_data, Unset):
            error_data = UNSET
        elif isinstance(self.error_data, ProblemErrorDataType0):
            error_data = self.error_data.to_dict()
        else:
            error_data = self.error_data

        convex_code: None | str | Unset
        if isinstance(self.convex_code, Unset):
            convex_code = UNSET
        else:
            convex_code = self.convex_code

        field: None | str | Unset
        if isinstance(self.field, Unset):
            field = UNSET
        else:
            field = self.field

        constraint: None | str | Unset
        if isinstance(self.constraint, Unset):
            constraint = UNSET
        else:
            constraint = self.constraint


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "type": type_,
            "title": title,
            "status": status,
            "detail": detail,
            "code": code,
        })
        if failed_operation is not UNSET:
            field_dict["failedOperation"] = failed_operation
        if error_data is not UNSET:
            field_dict["errorData"] = error_data
        if convex_code is not UNSET:
            field_dict["convexCode"] = convex_code
        if field is not UNSET:
            field_dict["field"] = field
        if constraint is not UNSET:
            field_dict["constraint"] = constraint

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.problem_error_data_type_0 import ProblemErrorDataType0 # noqa: PLC0415
        d = dict(src_dict)
        type_ = d.pop("type")

        title = d.pop("title")

        status = d.pop("status")

        detail = d.pop("detail")

        code = ErrorCode(d.pop("code"))




        def _parse_failed_operation(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        failed_operation = _parse_failed_operation(d.pop("failedOperation", UNSET))


        def _parse_error_data(data: object) -> None | ProblemErrorDataType0 | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                error_data_type_0 = ProblemErrorDataType0.from_dict(data)



                return error_data_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | ProblemErrorDataType0 | Unset, data)

        error_data = _parse_error_data(d.pop("errorData", UNSET))


        def _parse_convex_code(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        convex_code = _parse_convex_code(d.pop("convexCode", UNSET))


        def _parse_field(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        field = _parse_field(d.pop("field", UNSET))


        def _parse_constraint(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        constraint = _parse_constraint(d.pop("constraint", UNSET))


        problem = cls(
            type_=type_,
            title=title,
            status=status,
            detail=detail,
            code=code,
            failed_operation=failed_operation,
            error_data=error_data,
            convex_code=convex_code,
            field=field,
            constraint=constraint,
        )


        problem.additional_properties = d
        return problem

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
