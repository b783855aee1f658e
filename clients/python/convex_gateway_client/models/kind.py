from enum import StrEnum

class Kind(StrEnum):
    APPLY = "apply"
    MUTATION = "mutation"

    def __str__(self) -> str:
        return str(self.value)
