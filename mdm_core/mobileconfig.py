"""Decoding an uploaded ``.mobileconfig``: the profile dictionary and the facts an admin needs about it.

An upload may be an XML or binary property list, bare or wrapped in a CMS SignedData (as
Apple Configurator and most vendors sign). A signature that does not verify is reported as a
warning and the content is still read: the server re-signs what it sends with its own
identity, so a broken outer signature changes nothing for the phone. An encrypted profile
(``EncryptedPayloadContent``, or the whole file a CMS EnvelopedData) is refused: it is
encrypted to one device's identity, so the server can neither check it nor send it to anyone
else.

Errors are typed so the API can answer 413 for oversized bytes, 422 for an encrypted profile
and 400 for anything that is not a profile at all; nothing else escapes.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from mdm_core import cms, plist
from mdm_core.capabilities import EnrollmentType, Problem, capped
from mdm_core.profile_check import TOP_LEVEL_TYPE, ProfileReport, check_profile
from mdm_core.profile_variables import check_variables, identifier_warnings

MAX_MOBILECONFIG_BYTES = plist.MAX_PLIST_BYTES
_ENVELOPED_DATA = "1.2.840.113549.1.7.3"
_SIGNED_DATA = "1.2.840.113549.1.7.2"
_BINARY_MAGIC = b"bplist00"


class MobileconfigError(ValueError):
    """The upload cannot be taken as a configuration profile; the message says why."""


class NotAProfileError(MobileconfigError):
    """Not a property list, not a dictionary, or not a configuration profile (HTTP 400)."""


class OversizedProfileError(MobileconfigError):
    """Larger than the limit (HTTP 413)."""


class EncryptedProfileError(MobileconfigError):
    """Encrypted for one device: it cannot be checked or sent to others (refused, HTTP 422)."""


@dataclass(frozen=True)
class Signature:
    """The CMS signature around an upload. ``subject`` is the signer certificate's subject
    (RFC 4514) when the signature verified; the chain to a trusted root is not checked."""

    verified: bool
    subject: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class DecodedProfile:
    """An upload's profile dictionary, its encoding and its signature (None when unsigned)."""

    profile: dict[str, Any]
    format: Literal["xml", "binary"]
    signature: Signature | None = None
    problems: tuple[Problem, ...] = field(default=())

    @property
    def identifier(self) -> str | None:
        value = self.profile.get("PayloadIdentifier")
        return value if isinstance(value, str) else None


def decode(data: bytes, *, max_bytes: int = MAX_MOBILECONFIG_BYTES) -> DecodedProfile:
    """Decode ``.mobileconfig`` bytes; raises a :class:`MobileconfigError` subclass for what cannot be a profile.

    Work is linear in ``len(data)``: a binary plist whose shared objects would expand beyond
    its own size (the binary form of "billion laughs") is refused before anyone walks it.
    """
    if not isinstance(data, (bytes, bytearray)):
        raise NotAProfileError("a profile upload must be bytes")
    data = bytes(data)
    if len(data) > max_bytes:
        raise OversizedProfileError(f"the profile is larger than {max_bytes} bytes")
    if not data.strip():
        raise NotAProfileError("the upload is empty")
    signature = None
    content_type = cms.content_type(data)
    if content_type == _ENVELOPED_DATA:
        raise EncryptedProfileError("the file is a CMS EnvelopedData (encrypted for one device's identity); "
                                    "upload the unencrypted profile")
    if content_type == _SIGNED_DATA:
        data, signature = _unwrap(data)
        if cms.content_type(data) == _ENVELOPED_DATA:
            raise EncryptedProfileError("the signed content is a CMS EnvelopedData (encrypted for one device's "
                                        "identity); upload the unencrypted profile")
    try:
        profile = plist.loads(data, max_bytes=max_bytes)
    except plist.PlistError as exc:
        raise NotAProfileError(f"not a configuration profile: {exc}") from None
    _check_expansion(profile, len(data))
    if profile.get("PayloadType") != TOP_LEVEL_TYPE:
        raise NotAProfileError(f"not a configuration profile: the top-level PayloadType must be {TOP_LEVEL_TYPE}")
    if "EncryptedPayloadContent" in profile or profile.get("IsEncrypted") is True:
        raise EncryptedProfileError("the payloads are encrypted (EncryptedPayloadContent) for one device's identity; "
                                    "upload the unencrypted profile")
    problems = ()
    if signature is not None and not signature.verified:
        problems = (Problem("warning", None, f"the profile's signature does not verify ({signature.reason}); "
                                             "the server signs what it sends with its own identity", TOP_LEVEL_TYPE),)
    return DecodedProfile(profile, "binary" if data.startswith(_BINARY_MAGIC) else "xml", signature, problems)


def check(decoded: DecodedProfile, enrollment_type: EnrollmentType = "user") -> ProfileReport:
    """The checker's verdict on an upload: the decoding's warnings, the schema and User Enrollment
    findings, an error for each unknown ``$VARIABLE`` (it would fail on every device), and a warning for a ``$``
    in an identifier (sent as written)."""
    report = check_profile(decoded.profile, enrollment_type)
    variables = check_variables(decoded.profile)
    problems = [*decoded.problems, *report.problems, *variables, *identifier_warnings(decoded.profile)]
    capped(problems)
    return ProfileReport(report.valid and not variables, report.user_enrollment, problems)


def _unwrap(data: bytes) -> tuple[bytes, Signature]:
    try:
        signed = cms.verify(data)
    except cms.CMSError as exc:
        try:
            content = cms.encapsulated_content(data)
        except cms.CMSError as inner:
            raise NotAProfileError(f"the signed wrapper cannot be read: {inner}") from None
        return content, Signature(verified=False, reason=str(exc))
    try:
        subject = signed.signer.subject.rfc4514_string()
    except ValueError:
        subject = None  # an undecodable name is shown as unknown, not trusted as anything
    return signed.content, Signature(verified=True, subject=subject)


def _check_expansion(profile: Mapping[str, Any], size: int) -> None:
    """Refuse a plist whose values, counted as a tree, outnumber its bytes.

    Every element of an XML or plain binary plist costs at least one byte, so only shared
    references (one binary object reached many times) can exceed the count; stopping there
    keeps every later walk (checker, variables, signing) linear in the upload's size.
    """
    budget = size
    stack: list[Any] = [profile]
    while stack:
        item = stack.pop()
        children = item.values() if isinstance(item, Mapping) else item
        budget -= len(children)
        if budget < 0:
            raise NotAProfileError("not a configuration profile: its shared references expand beyond its size")
        stack.extend(child for child in children if isinstance(child, (Mapping, list)))
