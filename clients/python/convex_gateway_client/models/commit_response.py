from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.commit_response_ids import CommitResponseIds
  from ..models.operation_result import OperationResult





T = TypeVar("T", bound="CommitResponse")



@_attrs_define
class CommitResponse:
    """ What a commit applied.

        Attributes:
            results (list[OperationResult]): One result per staged write, in order.
            ids (CommitResponseIds): The real ids of documents the transaction inserted, by provisional id.
     """

    results: list[OperationResult]
    ids: CommitResponseIds
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.commit_response_ids import CommitResponseIds # noqa: PLC0415
        from ..models.operation_result import OperationResult # noqa: PLC0415
        results = []
        for results_item_data in self.results:
            results_item = results_item_data.to_dict()
            results.append(results_item)



        ids = self.ids.to_dict()


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "results": results,
            "ids": ids,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.commit_response_ids import CommitResponseIds # noqa: PLC0415
        from ..models.operation_result import OperationResult # noqa: PLC0415
        d = dict(src_dict)
        results = []
        _results = d.pop("results")
        for results_item_data in (_results):
            results_item = OperationResult.from_dict(results_item_data)



            results.append(results_item)


        ids = CommitResponseIds.from_dict(d.pop("ids"))




        commit_response = cls(
            results=results,
            ids=ids,
        )


        commit_response.additional_properties = d
        return commit_response

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
