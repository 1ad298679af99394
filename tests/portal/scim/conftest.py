"""Fixtures of the SCIM tests: a directory's client with a ``scim`` token, and the guides' request bodies."""
import json

import pytest


@pytest.fixture
def scim(client, api_token):
    """``scim(method, path, body=None, **kwargs)``: a request to /scim/v2 with a token holding only ``scim``."""
    token = api_token("directory", scopes=("scim",))

    def call(method, path, body=None, **kwargs):
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        if body is not None:
            kwargs["data"] = body if isinstance(body, (bytes, str)) else json.dumps(body)
            headers.setdefault("Content-Type", "application/scim+json")
        return client.open(f"/scim/v2{path}", method=method, headers=headers, **kwargs)

    return call
