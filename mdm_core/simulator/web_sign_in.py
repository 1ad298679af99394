"""A headless stand-in for the phone's web sheet: follow redirects, submit forms, stop at the callback.

``FormWalker(http, answers)`` is a ``web_sign_in`` for :func:`enroll_account_driven`. On each
HTML page it submits the form that asks for one of ``answers`` (a login name, a checkbox...),
or the page's only form, with its hidden fields, until a redirect names the
``apple-remotemanagement-user-login`` scheme, whose URL it returns. Any error status ends the
walk, as it ends enrollment on a phone.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx

from mdm_core.account_driven import CALLBACK_SCHEME
from mdm_core.simulator.device import SimulatorError

MAX_STEPS = 40


@dataclass
class _Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[_Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(_Form(attributes.get("action", ""), attributes.get("method", "get").lower()))
        elif self.forms and tag in ("input", "button", "select", "textarea") and attributes.get("name"):
            form, name = self.forms[-1], attributes["name"]
            form.names.add(name)
            kind = attributes.get("type", "text").lower()
            if kind == "hidden" or (kind in ("radio", "checkbox") and "checked" in attributes):
                form.fields.setdefault(name, attributes.get("value", "on"))


@dataclass
class FormWalker:
    """Walks sign-in pages with ``http`` (which keeps the cookies), answering forms from ``answers``."""

    http: httpx.Client
    answers: dict[str, str]
    visited: list[str] = field(default_factory=list)

    def __call__(self, url: str) -> str:
        response = self._request("GET", url)
        for _ in range(MAX_STEPS):
            if response.is_redirect:
                location = urljoin(str(response.url), response.headers["Location"])
                if urlsplit(location).scheme == CALLBACK_SCHEME:
                    return location
                response = self._request("GET", location)
                continue
            if response.status_code >= 400:
                raise SimulatorError(f"web sign-in ended with {response.status_code} at {response.url}")
            form = self._pick_form(response.text)
            target = urljoin(str(response.url), form.action or str(response.url))
            data = {**form.fields, **{k: v for k, v in self.answers.items() if k in form.names}}
            response = self._request("POST" if form.method == "post" else "GET", target, data)
        raise SimulatorError(f"web sign-in did not finish within {MAX_STEPS} steps")

    def _pick_form(self, html: str) -> _Form:
        parser = _FormParser()
        parser.feed(html)
        wanted = [f for f in parser.forms if f.names & (self.answers.keys() - {"action"})]
        if wanted:
            return wanted[0]
        if len(parser.forms) == 1:
            return parser.forms[0]
        raise SimulatorError(f"web sign-in page has {len(parser.forms)} forms and none asks for {sorted(self.answers)}")

    def _request(self, method: str, url: str, data: dict[str, str] | None = None) -> httpx.Response:
        self.visited.append(url)
        try:
            if method == "POST":
                return self.http.post(url, data=data, follow_redirects=False)
            return self.http.get(url, params=data or None, follow_redirects=False)
        except httpx.HTTPError as exc:
            raise SimulatorError(f"web sign-in request to {url} failed: {exc}") from None
