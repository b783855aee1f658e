from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.api_mutation_response_560_error_data_type_0 import ApiMutationResponse560ErrorDataType0
  from ..models.api_mutation_response_560_value_type_0 import ApiMutationResponse560ValueType0





T = TypeVar("T", bound="ApiMutationResponse560")



@_attrs_define
class ApiMutationResponse560:
    """ Convex's answer, passed through unchanged (HTTP 200, or 560 for function errors when
    Convex sends it).

        Attributes:
            status (str): `success` or `error`.
            value (ApiMutationResponse560ValueType0 | None | Unset):
            error_message (None | str | Unset):
            error_data (ApiMutationResponse560ErrorDataType0 | None | Unset):
            log_lines (list[str] | None | Unset):
     """

    status: str
    value: ApiMutationResponse560ValueType0 | None | Unset = UNSET
    error_message: None | str | Unset = UNSET
    error_data: ApiMutationResponse560ErrorDataType0 | None | Unset = UNSET
    log_lines: list[str] | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.api_mutation_response_560_error_data_type_0 import ApiMutationResponse560ErrorDataType0 # noqa: PLC0415
        from ..models.api_mutation_response_560_value_type_0 import ApiMutationResponse560ValueType0 # noqa: PLC0415
        status = self.status

        value: dict[str, Any] | None | Unset
        if isinstance(self.value, Unset):
            value = UNSET
        elif isinstance(self.value, ApiMutationResponse560ValueType0):
            value = self.value.to_dict()
        else:
            value = self.value

        error_message: None | str | Unset
        if isinstance(self.error_message, Unset):
            error_message = UNSET
        else:
            error_message = self.error_message

        error_data: dict[str, Any] | None | Unset
        if isinstance(self.error_data, Unset):
            error_data = UNSET
        elif isinstance(self.error_data, ApiMutationResponse560ErrorDataType0):
            error_data = self.error_data.to_dict()
        else:
            error_data = self.error_data

        log_lines: list[str] | None | Unset
        if isinstance(self.log_lines, Unset):
            log_lines = UNSET
        elif isinstance(self.log_lines, list):
            log_lines = self.log_lines


        else:
            log_lines = self.log_lines


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "status": status,
        })
        if value is not UNSET:
            field_dict["value"] = value
        if error_message is not UNSET:
            field_dict["errorMessage"] = error_message
        if error_data is not UNSET:
            field_dict["errorData"] = error_data
        if log_lines is not UNSET:
            field_dict["logLines"] = log_lines

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.api_mutation_response_560_error_data_type_0 import ApiMutationResponse560ErrorDataType0 # noqa: PLC0415
        from ..models.api_mutation_response_560_value_type_0 import ApiMutationResponse560ValueType0 # noqa: PLC0415
        d = dict(src_dict)
        status = d.pop("status")

        def _parse_value(data: object) -> ApiMutationResponse560ValueType0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                value_type_0 = ApiMutationResponse560ValueType0.from_dict(data)



                return value_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(ApiMutationResponse560ValueType0 | None | Unset, data)

        value = _parse_value(d.pop("value", UNSET))


        def _parse_error_message(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        error_message = _parse_error_message(d.pop("errorMessage", UNSET))


        def _parse_error_data(data: object) -> ApiMutationResponse560ErrorDataType0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                error_data_type_0 = ApiMutationResponse560ErrorDataType0.from_dict(data)



                return error_data_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(ApiMutationResponse560ErrorDataType0 | None | Unset, data)

        error_data = _parse_error_data(d.pop("errorData", UNSET))


        def _parse_log_lines(data: object) -> list[str] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                log_lines_type_0 = cast(list[str], data)

                return log_lines_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[str] | None | Unset, data)

        log_lines = _parse_log_lines(d.pop("logLines", UNSET))


        api_mutation_response_560 = cls(
            status=status,
            value=value,
            error_message=error_message,
            error_data=error_data,
            log_lines=log_lines,
        )


        api_mutation_response_560.additional_properties = d
        return api_mutation_response_560

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
