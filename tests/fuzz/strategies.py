"""Hypothesis strategies for hostile bodies: valid-shaped messages with wrong types, missing and extra
keys, Unicode-hostile and over-long strings, deep nesting, shared references, truncation, byte flips
and bodies just past the size limits, as XML or binary property lists."""
from __future__ import annotations

import datetime as dt
import plistlib
import uuid
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from hypothesis import strategies as st

from mdm_core.ca import Identity
from tests.plist_bombs import path_bomb

#: Strings that break naive code: NUL and other controls, bidirectional overrides, combining marks and
#: a very long grapheme cluster, non-characters, a BOM, emoji sequences, and lengths just past the
#: check-in limits (40, 80, 100, 120, 255 characters) and the inventory's (1,024).
HOSTILE_STRINGS = (
    "", "\x00", "a\x00b", "\x01\x1b[31m\x7f", "\r\n\t", "\u202eevil\u202c", "\u200f\u200e\u2066x\u2069",
    "e" + "\u0301" * 500, "\u0e01" + "\u0e49" * 200, "\ufffe", "\uffff", "\ufdd0", "\U0001fffe", "\U0010ffff",
    "\ufeffBOM", "\U0001f3f3\ufe0f\u200d\U0001f308" * 40, "\U0001d54f" * 300, "%s%n{0}", "' OR 1=1 --",
    "<![CDATA[x]]>&amp;", "../../etc/passwd", "A" * 41, "A" * 81, "A" * 101, "A" * 121, "A" * 256, "Ω" * 256,
    "A" * 1025, "00000000-0000-0000-0000-000000000000",
)
_PLIST_CHARACTERS = st.characters(blacklist_categories=("Cs",))  # neither plist form holds a lone surrogate


def hostile_text(*, surrogates: bool = False, max_size: int = 40) -> st.SearchStrategy[str]:
    characters = st.characters() if surrogates else _PLIST_CHARACTERS
    return st.one_of(st.text(characters, max_size=max_size), st.sampled_from(HOSTILE_STRINGS),
                     st.builds(lambda a, b: a + b, st.sampled_from(HOSTILE_STRINGS), st.text(characters, max_size=8)))


def scalars(*, surrogates: bool = False) -> st.SearchStrategy[Any]:
    """Every plist scalar: strings, integers to both 64-bit ends, floats with NaN and infinities, booleans,
    data and dates."""
    return st.one_of(hostile_text(surrogates=surrogates), st.integers(-(2 ** 63), 2 ** 64 - 1),
                     st.sampled_from([0, -1, 2 ** 63 - 1, 2 ** 64 - 1, -(2 ** 63)]), st.floats(), st.booleans(),
                     st.binary(max_size=48), st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)))


def values(*, surrogates: bool = False) -> st.SearchStrategy[Any]:
    """Scalars, arrays and dictionaries of them, a few levels deep."""
    return st.recursive(scalars(surrogates=surrogates),
                        lambda children: st.one_of(st.lists(children, max_size=4),
                                                   st.dictionaries(hostile_text(surrogates=surrogates), children,
                                                                   max_size=4)),
                        max_leaves=12)


def nested(depth: int, leaf: Any = "x") -> Any:
    """``depth`` arrays and dictionaries around ``leaf``, alternating."""
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


#: Built once: a strategy built afresh in every draw is validated afresh, which cost more than the request.
_TEXT = {surrogates: hostile_text(surrogates=surrogates) for surrogates in (False, True)}
_LONG_TEXT = {surrogates: hostile_text(surrogates=surrogates, max_size=300) for surrogates in (False, True)}
_VALUES = {surrogates: values(surrogates=surrogates) for surrogates in (False, True)}
_CHANGES = st.sampled_from(("wrong_type", "wrong_type", "missing", "extra", "hostile_string", "hostile_string", "nested"))
_CHANGE_COUNTS = st.sampled_from((0, 0, 1, 1, 2, 3, 4))  # a few changes reach deeper than many
_DEPTHS = st.integers(20, 120)


@st.composite
def mutated(draw, base: dict[str, Any], keys: tuple[str, ...], *, surrogates: bool = False) -> dict[str, Any]:
    """``base`` with up to four changes: a key of another type, a key missing, an extra key, a hostile
    string or a deeply nested value. ``keys`` are the keys the message type knows (present or not)."""
    message = dict(base)
    for _ in range(draw(_CHANGE_COUNTS)):
        change = draw(_CHANGES)
        key = draw(st.sampled_from(sorted(set(message) | set(keys))))
        if change == "wrong_type":
            message[key] = draw(_VALUES[surrogates])
        elif change == "missing":
            message.pop(key, None)
        elif change == "extra":
            message[draw(_TEXT[surrogates])] = draw(_VALUES[surrogates])
        elif change == "hostile_string":
            message[key] = draw(_LONG_TEXT[surrogates])
        else:
            message[key] = nested(draw(_DEPTHS))
    return message


def encode(value: Any, form: str) -> bytes:
    """``value`` as an XML plist, or binary when XML cannot hold it (control characters)."""
    if form == "xml":
        try:
            return plistlib.dumps(value, fmt=plistlib.FMT_XML)
        except (ValueError, TypeError, OverflowError):
            pass
    return plistlib.dumps(value, fmt=plistlib.FMT_BINARY)


#: How a message becomes a body; "oversized" (a body just past a limit) is rarer, as each costs megabytes.
FORMS = ("xml", "binary") * 5 + ("truncated", "truncated", "flipped", "flipped", "bomb", "raw", "oversized")


_FORM, _ENCODINGS = st.sampled_from(FORMS), st.sampled_from(("xml", "binary"))
_RAW, _LEVELS, _FANOUTS = st.binary(max_size=256), st.integers(2, 6), st.integers(2, 100)
_FLIPS, _BYTES = st.integers(1, 8), st.integers(0, 255)


@st.composite
def bodies(draw, messages: st.SearchStrategy[dict[str, Any]], limits: tuple[int, ...]) -> bytes:
    """A body made of one of ``messages``: encoded, truncated, with bytes flipped, as a shared-reference
    bomb, as raw bytes, or padded to one byte past one of ``limits``."""
    message = draw(messages)
    form = draw(_FORM)
    if form == "raw":
        return draw(_RAW)
    if form == "bomb":
        return path_bomb(message, levels=draw(_LEVELS), fanout=draw(_FANOUTS))
    if form == "oversized":
        limit = draw(st.sampled_from(limits))
        padded = encode({**message, "Padding": ""}, "xml")
        return encode({**message, "Padding": "A" * max(0, limit + 1 - len(padded))}, "xml")
    body = encode(message, draw(_ENCODINGS) if form != "xml" else "xml")
    if form == "truncated":
        return body[:draw(st.integers(0, max(0, len(body) - 1)))]
    if form == "flipped":
        data = bytearray(body)
        for _ in range(draw(_FLIPS)):
            data[draw(st.integers(0, len(data) - 1))] = draw(_BYTES)
        return bytes(data)
    return body


def command_uuids(own: list[str], others: list[str]) -> st.SearchStrategy[str]:
    """CommandUUIDs of this device's commands, another device's, unknown ones and hostile text."""
    choices = [st.builds(lambda: str(uuid.uuid4()).upper()), hostile_text()]
    if own:
        choices += [st.sampled_from(own)] * 6
    if others:
        choices.append(st.sampled_from(others))
    return st.one_of(*choices)


#: Authorization headers (HTTP carries Latin-1): bearer tokens of every shape, other schemes, none.
AUTHORIZATIONS = st.one_of(
    st.none(), st.just("Bearer"), st.just("Bearer "), st.just("bearer  x"), st.just("Basic dXNlcjpwYXNz"),
    st.builds(lambda t: "Bearer " + t, st.text(st.characters(max_codepoint=255, blacklist_characters="\r\n"),
                                                 max_size=80)),
    st.builds(lambda n: "Bearer " + "A" * n, st.integers(1000, 20000)),
    st.text(st.characters(max_codepoint=255, blacklist_characters="\r\n"), max_size=60),
)


#: A self-signed identity no enrollment vouches for: it signs SCEP requests, account-driven requests and
#: uploaded profiles, as a phone's or an admin's own key would.
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
SUBJECT = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fuzz")])
_NOW = dt.datetime.now(dt.timezone.utc)
SIGNER = Identity(x509.CertificateBuilder().subject_name(SUBJECT).issuer_name(SUBJECT).public_key(KEY.public_key())
                  .serial_number(1).not_valid_before(_NOW - dt.timedelta(days=1))
                  .not_valid_after(_NOW + dt.timedelta(days=1)).sign(KEY, hashes.SHA256()), KEY)
