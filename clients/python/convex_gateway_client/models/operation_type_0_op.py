from enum import StrEnum

class OperationType0Op(StrEnum):
    INSERT = "insert"

    def __str__(self) -> str:
        return str(self.value)
