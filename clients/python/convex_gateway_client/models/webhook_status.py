from enum import StrEnum

class WebhookStatus(StrEnum):
    DELIVERED = "delivered"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    QUEUED = "queued"

    def __str__(self) -> str:
        return str(self.value)
