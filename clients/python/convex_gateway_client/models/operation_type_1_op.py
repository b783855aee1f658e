from enum import StrEnum

class OperationType1Op(StrEnum):
    PATCH = "patch"

    def __str__(self) -> str:
        return str(self.value)
