"""Domain errors. bot/ turns each into a message in the user's language."""

from __future__ import annotations

from datetime import datetime


class DomainError(Exception):
    pass


class NotFound(DomainError):
    """Also what a forged id gets: the caller learns nothing about whether it exists."""


class NotAllowed(DomainError):
    pass


class NotLinked(DomainError):
    pass


class CodeUnknown(DomainError):
    pass


class CodeUsed(DomainError):
    """by_you: this account used the code itself and has unlinked since."""

    def __init__(self, *, by_you: bool = False) -> None:
        super().__init__("by_you" if by_you else "")
        self.by_you = by_you


class CodeExpired(DomainError):
    pass


class CodeLocked(DomainError):
    def __init__(self, until: datetime) -> None:
        super().__init__(until.isoformat())
        self.until = until


class InvalidInput(DomainError):
    """Input that breaks a rule; `reason` is a key bot/ translates."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
