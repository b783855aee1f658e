from enum import StrEnum

class Kind(StrEnum):
    APPLY = "apply"
    MUTATION = "mutation"
    WEBHOOK = "webhook"

    def __str__(self) -> str:
        return str(self.value)
