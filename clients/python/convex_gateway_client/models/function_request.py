from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.function_request_args_type_0 import FunctionRequestArgsType0





T = TypeVar("T", bound="FunctionRequest")



@_attrs_define
class FunctionRequest:
    """ A Convex function call, exactly as Convex's HTTP API takes it.

        Attributes:
            path (str): `module:function`, e.g. `videos:getByTwitchId`.
            args (FunctionRequestArgsType0 | None | Unset): An object, or a one-element array holding it (the legacy form
                `ConvexHttpClient` sends).
            format_ (None | str | Unset): `json` (the default) or `convex_encoded_json`.
     """

    path: str
    args: FunctionRequestArgsType0 | None | Unset = UNSET
    format_: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.function_request_args_type_0 import FunctionRequestArgsType0 # noqa: PLC0415
        path = self.path

        args: dict[str, Any] | None | Unset
        if isinstance(self.args, Unset):
            args = UNSET
        elif isinstance(self.args, FunctionRequestArgsType0):
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
            "path": path,
        })
        if args is not UNSET:
            field_dict["args"] = args
        if format_ is not UNSET:
            field_dict["format"] = format_

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.function_request_args_type_0 import FunctionRequestArgsType0 # noqa: PLC0415
        d = dict(src_dict)
        path = d.pop("path")

        def _parse_args(data: object) -> FunctionRequestArgsType0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                args_type_0 = FunctionRequestArgsType0.from_dict(data)



                return args_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(FunctionRequestArgsType0 | None | Unset, data)

        args = _parse_args(d.pop("args", UNSET))


        def _parse_format_(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        format_ = _parse_format_(d.pop("format", UNSET))


        function_request = cls(
            path=path,
            args=args,
            format_=format_,
        )


        function_request.additional_properties = d
        return function_request

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
