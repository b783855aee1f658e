from enum import StrEnum

class Status(StrEnum):
    DEAD = "dead"
    DELIVERED = "delivered"
    DISCARDED = "discarded"
    QUEUED = "queued"

    def __str__(self) -> str:
        return str(self.value)
