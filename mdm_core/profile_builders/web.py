"""Web clips and extensible single sign-on: the web side of an employee's work."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from mdm_core.profile_builders.base import BuildError, Payload


@dataclass(frozen=True, kw_only=True)
class WebClip(Payload):
    """A home-screen icon opening a URL (the intranet, the expense tool)."""

    PAYLOAD_TYPE = "com.apple.webClip.managed"
    TITLE = "Web clip"
    REQUIRED = ("URL", "Label")

    URL: str
    Label: str
    Icon: bytes | None = None
    IsRemovable: bool | None = True
    FullScreen: bool | None = None
    Precomposed: bool | None = None
    IgnoreManifestScope: bool | None = None
    TargetApplicationBundleIdentifier: str | None = None

    def check(self) -> None:
        super().check()
        if not self.URL.startswith(("https://", "http://")):
            raise BuildError("web clip: URL must be an http(s) URL")


@dataclass(frozen=True, kw_only=True)
class ExtensibleSSO(Payload):
    """An SSO extension (an IdP's app) that signs the user in to work sites and apps."""

    PAYLOAD_TYPE = "com.apple.extensiblesso"
    TITLE = "Single sign-on extension"
    REQUIRED = ("ExtensionIdentifier",)

    ExtensionIdentifier: str
    Type: Literal["Redirect", "Credential"] = "Redirect"
    URLs: tuple[str, ...] | None = None
    Hosts: tuple[str, ...] | None = None
    Realm: str | None = None
    ExtensionData: Mapping[str, Any] | None = None
    DeniedBundleIdentifiers: tuple[str, ...] | None = None
    ScreenLockedBehavior: Literal["Cancel", "DoNotHandle"] | None = None

    def check(self) -> None:
        super().check()
        if self.Type == "Redirect" and not self.URLs:
            raise BuildError("extensible SSO: a Redirect extension needs URLs")
        if self.Type == "Credential" and not (self.Realm and self.Hosts):
            raise BuildError("extensible SSO: a Credential extension needs Realm and Hosts")
