from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.run_request_args_type_0 import RunRequestArgsType0





T = TypeVar("T", bound="RunRequest")



@_attrs_define
class RunRequest:
    """ A call through `/api/run/{path}`: the path is in the URL.

        Attributes:
            args (None | RunRequestArgsType0 | Unset):
            format_ (None | str | Unset):
     """

    args: None | RunRequestArgsType0 | Unset = UNSET
    format_: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.run_request_args_type_0 import RunRequestArgsType0 # noqa: PLC0415
        args: dict[str, Any] | None | Unset
        if isinstance(self.args, Unset):
            args = UNSET
        elif isinstance(self.args, RunRequestArgsType0):
            args = self.args.to_dict()
        else:
            args = self.args

        format_: None | str | Unset
        if isinstance(self.format_, Unset):
            format_ = UNSET
        else:
            format_ = self.format_


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
        })
        if args is not UNSET:
            field_dict["args"] = args
        if format_ is not UNSET:
            field_dict["format"] = format_

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.run_request_args_type_0 import RunRequestArgsType0 # noqa: PLC0415
        d = dict(src_dict)
        def _parse_args(data: object) -> None | RunRequestArgsType0 | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                args_type_0 = RunRequestArgsType0.from_dict(data)



                return args_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | RunRequestArgsType0 | Unset, data)

        args = _parse_args(d.pop("args", UNSET))


        def _parse_format_(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        format_ = _parse_format_(d.pop("format", UNSET))


        run_request = cls(
            args=args,
            format_=format_,
        )


        run_request.additional_properties = d
        return run_request

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
