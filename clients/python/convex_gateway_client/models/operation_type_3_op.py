from enum import StrEnum

class OperationType3Op(StrEnum):
    DELETE = "delete"

    def __str__(self) -> str:
        return str(self.value)
