"""The refusal a simulated phone answers a command with."""
from __future__ import annotations

from collections.abc import Sequence


class CommandRefused(Exception):
    """The device answers ``Error`` with this ErrorChain: the error, then the errors under it
    (``underlying``: ``(domain, code, description)`` each), outermost first as iOS lists them."""

    def __init__(self, domain: str, code: int, description: str,
                 underlying: Sequence[tuple[str, int, str]] = ()) -> None:
        super().__init__(description)
        self.error_chain = [
            {
                "ErrorDomain": error_domain,
                "ErrorCode": error_code,
                "LocalizedDescription": text,
                "USEnglishDescription": text,
            }
            for error_domain, error_code, text in ((domain, code, description), *underlying)
        ]
