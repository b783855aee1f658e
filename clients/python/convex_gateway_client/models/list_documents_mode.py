from enum import StrEnum

class ListDocumentsMode(StrEnum):
    CHANGES = "changes"
    SNAPSHOT = "snapshot"

    def __str__(self) -> str:
        return str(self.value)
