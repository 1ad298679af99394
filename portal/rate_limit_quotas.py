"""How many requests each limit allows per window, by client address and by account.

Pure: ``portal.config`` validates ``RATE_LIMITS`` with the other settings at start-up.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

SCOPES = ("ip", "account")


@dataclass(frozen=True)
class Quota:
    """``count`` requests per fixed window of ``seconds``."""

    count: int
    seconds: int


Quotas = dict[str, dict[str, Quota]]  # limit name -> scope ("ip" | "account") -> quota

DEFAULT_QUOTAS: Quotas = {
    "admin_sign_in": {"ip": Quota(30, 60), "account": Quota(10, 60)},
    "sign_in": {"ip": Quota(30, 60)},
    "enrollment": {"ip": Quota(30, 60), "account": Quota(10, 60)},
    "account_driven": {"ip": Quota(30, 60)},
    "scep": {"ip": Quota(30, 60)},
    "scep_challenge": {"ip": Quota(5, 60)},
    "api_token": {"ip": Quota(20, 60)},
}
MAX_COUNT = 1_000_000
MAX_SECONDS = 24 * 3600
_QUOTA = re.compile(r"(\d{1,7})\s*/\s*(\d{1,5})", re.ASCII)


def parse_quotas(text: str, problems: list[str]) -> Quotas:
    """The defaults with ``text``'s changes: ``name.scope=count/seconds`` or ``name.scope=off``, comma-separated.

    Each bad entry adds a message to ``problems`` and is left out.
    """
    quotas = {name: dict(scopes) for name, scopes in DEFAULT_QUOTAS.items()}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        target, _, value = entry.partition("=")
        name, _, scope = target.strip().partition(".")
        value = value.strip().lower()
        if name not in quotas or scope not in SCOPES:
            problems.append(f"RATE_LIMITS entry {entry!r}: name a limit and scope as LIMIT.ip or LIMIT.account "
                            f"(limits: {', '.join(quotas)})")
        elif value == "off":
            quotas[name].pop(scope, None)
        else:
            quota = _quota(value)
            if quota is None:
                problems.append(f"RATE_LIMITS entry {entry!r}: the value must be COUNT/SECONDS (for example 10/60, "
                                f"at most {MAX_COUNT}/{MAX_SECONDS}) or off")
            else:
                quotas[name][scope] = quota
    return quotas


def _quota(value: str) -> Quota | None:
    match = _QUOTA.fullmatch(value)
    if match is None:
        return None
    quota = Quota(int(match[1]), int(match[2]))
    return quota if 1 <= quota.count <= MAX_COUNT and 1 <= quota.seconds <= MAX_SECONDS else None
