from enum import StrEnum

class OperationType4Op(StrEnum):
    CHECK = "check"

    def __str__(self) -> str:
        return str(self.value)
