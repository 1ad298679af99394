"""The content token (.vpptoken): what parses, and the clear refusals of what does not."""
from __future__ import annotations

import base64
import datetime as dt
import json

import pytest

from mdm_core.vpp.token import MAX_TOKEN_BYTES, ContentTokenError, make_content_token, parse_content_token


def _file(fields: dict) -> bytes:
    return base64.b64encode(json.dumps(fields).encode())


def test_apples_token_file_parses_with_its_expiry_in_utc_and_the_file_text_as_stoken():
    data = _file({"token": "abc", "expDate": "2030-11-08T22:33:22-0700", "orgName": "Acme"})
    token = parse_content_token(data + b"\n")
    assert token.stoken == data.decode()
    assert token.organization == "Acme"
    assert token.expires_at == dt.datetime(2030, 11, 9, 5, 33, 22, tzinfo=dt.timezone.utc)
    assert token.location_name is None and not token.expired()


def test_made_token_round_trips_with_optional_fields():
    expires = dt.datetime(2031, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    token = parse_content_token(make_content_token("Org", expires_at=expires, locationName="Berlin", orgId="42"))
    assert (token.organization, token.expires_at, token.location_name, token.org_id) == ("Org", expires, "Berlin", "42")


def test_an_expired_token_parses_and_says_it_is_expired():
    token = parse_content_token(make_content_token(expires_at=dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)))
    assert token.expired()


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"not base64 at all!", "not a content token"),
    (base64.b64encode(b"\xff\xfe"), "not a content token"),
    (base64.b64encode(b"[1, 2]"), "expected a JSON object"),
    (base64.b64encode(b"[" * 10_000), "not a content token"),
    (_file({"token": "abc", "orgName": "Acme"}), "lacks expDate"),
    (_file({"token": "", "expDate": "2030-11-08T22:33:22-0700", "orgName": 5}), "lacks token, orgName"),
    (_file({"token": "a", "expDate": "tomorrow", "orgName": "Acme"}), "is not a date"),
    (_file({"token": "a", "expDate": "2030-11-08T22:33:22", "orgName": "Acme"}), "has no time zone"),
])
def test_what_is_not_a_content_token_is_refused_with_a_clear_message(data, message):
    with pytest.raises(ContentTokenError, match=message):
        parse_content_token(data)


def test_an_oversized_upload_is_refused_before_decoding():
    with pytest.raises(ContentTokenError, match="at most"):
        parse_content_token(b"A" * (MAX_TOKEN_BYTES + 1))
