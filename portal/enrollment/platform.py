"""Which device is asking, from the User-Agent: Profile-Driven User Enrollment serves iOS 13.1 to 17 only."""
from __future__ import annotations

import re
from dataclasses import dataclass

_IOS = re.compile(r"\((iPhone|iPad|iPod)[^)]*? OS (\d+)[_.](\d+)")
_SAFARI_VERSION = re.compile(r"Version/(\d+)\.(\d+)")
FIRST_PROFILE_DRIVEN = (13, 1)
FIRST_ACCOUNT_DRIVEN_ONLY = (18, 0)


@dataclass(frozen=True)
class Platform:
    """``kind`` is ``ios`` (iPhone, iPad, iPod), ``mac_or_ipad`` (iPadOS asks for desktop sites with a
    Mac User-Agent, so the two look alike) or ``other``; ``version`` is the OS (or Safari) version."""

    kind: str
    device: str | None = None
    version: tuple[int, int] | None = None

    @property
    def needs_account_driven(self) -> bool:
        """iOS/iPadOS 18 or later: profile-driven enrollment no longer exists there."""
        return self.kind in ("ios", "mac_or_ipad") and self.version is not None and self.version >= FIRST_ACCOUNT_DRIVEN_ONLY

    @property
    def too_old(self) -> bool:
        """iOS before 13.1: no User Enrollment (the profile's ManagedAppleID key came with 13.1)."""
        return self.kind == "ios" and self.version is not None and self.version < FIRST_PROFILE_DRIVEN

    @property
    def version_text(self) -> str:
        return f"{self.version[0]}.{self.version[1]}" if self.version else ""


def detect(user_agent: str | None) -> Platform:
    ua = user_agent or ""
    match = _IOS.search(ua)
    if match:
        return Platform("ios", match.group(1), (int(match.group(2)), int(match.group(3))))
    if "Macintosh" in ua and "Safari" in ua and "Chrome" not in ua:
        # Safari's version follows the OS version on iPadOS, which is what matters here.
        version = _SAFARI_VERSION.search(ua)
        return Platform("mac_or_ipad", None, (int(version.group(1)), int(version.group(2))) if version else None)
    return Platform("other")
