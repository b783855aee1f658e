from enum import StrEnum

class OperationType2Op(StrEnum):
    REPLACE = "replace"

    def __str__(self) -> str:
        return str(self.value)
