from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.operation_type_0 import OperationType0
  from ..models.operation_type_1 import OperationType1
  from ..models.operation_type_2 import OperationType2
  from ..models.operation_type_3 import OperationType3
  from ..models.operation_type_4 import OperationType4





T = TypeVar("T", bound="BatchRequest")



@_attrs_define
class BatchRequest:
    """ A batch of operations, applied all together or not at all.

        Attributes:
            operations (list[OperationType0 | OperationType1 | OperationType2 | OperationType3 | OperationType4]):
     """

    operations: list[OperationType0 | OperationType1 | OperationType2 | OperationType3 | OperationType4]





    def to_dict(self) -> dict[str, Any]:
        from ..models.operation_type_0 import OperationType0 # noqa: PLC0415
        from ..models.operation_type_1 import OperationType1 # noqa: PLC0415
        from ..models.operation_type_2 import OperationType2 # noqa: PLC0415
        from ..models.operation_type_3 import OperationType3 # noqa: PLC0415
        from ..models.operation_type_4 import OperationType4 # noqa: PLC0415
        operations = []
        for operations_item_data in self.operations:
            operations_item: dict[str, Any]
            if isinstance(operations_item_data, OperationType0):
                operations_item = operations_item_data.to_dict()
            elif isinstance(operations_item_data, OperationType1):
                operations_item = operations_item_data.to_dict()
            elif isinstance(operations_item_data, OperationType2):
                operations_item = operations_item_data.to_dict()
            elif isinstance(operations_item_data, OperationType3):
                operations_item = operations_item_data.to_dict()
            else:
                operations_item = operations_item_data.to_dict()

            operations.append(operations_item)




        field_dict: dict[str, Any] = {}

        field_dict.update({
            "operations": operations,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.operation_type_0 import OperationType0 # noqa: PLC0415
        from ..models.operation_type_1 import OperationType1 # noqa: PLC0415
        from ..models.operation_type_2 import OperationType2 # noqa: PLC0415
        from ..models.operation_type_3 import OperationType3 # noqa: PLC0415
        from ..models.operation_type_4 import OperationType4 # noqa: PLC0415
        d = dict(src_dict)
        operations = []
        _operations = d.pop("operations")
        for operations_item_data in (_operations):
            def _parse_operations_item(data: object) -> OperationType0 | OperationType1 | OperationType2 | OperationType3 | OperationType4:
                try:
                    if not isinstance(data, dict):
                        raise TypeError()
                    componentsschemas_operation_type_0 = OperationType0.from_dict(data)



                    return componentsschemas_operation_type_0
                except (TypeError, ValueError, AttributeError, KeyError):
                    pass
                try:
                    if not isinstance(data, dict):
                        raise TypeError()
                    componentsschemas_operation_type_1 = OperationType1.from_dict(data)



                    return componentsschemas_operation_type_1
                except (TypeError, ValueError, AttributeError, KeyError):
                    pass
                try:
                    if not isinstance(data, dict):
                        raise TypeError()
                    componentsschemas_operation_type_2 = OperationType2.from_dict(data)



                    return componentsschemas_operation_type_2
                except (TypeError, ValueError, AttributeError, KeyError):
                    pass
                try:
                    if not isinstance(data, dict):
                        raise TypeError()
                    componentsschemas_operation_type_3 = OperationType3.from_dict(data)



                    return componentsschemas_operation_type_3
                except (TypeError, ValueError, AttributeError, KeyError):
                    pass
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_operation_type_4 = OperationType4.from_dict(data)



                return componentsschemas_operation_type_4

            operations_item = _parse_operations_item(operations_item_data)

            operations.append(operations_item)


        batch_request = cls(
            operations=operations,
        )

        return batch_request

