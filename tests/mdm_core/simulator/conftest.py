"""An in-memory MDM server on httpx.MockTransport, built from mdm_core's own pieces.

It verifies every Mdm-Signature against its CA, parses check-ins and reports, and hands out
queued commands by the queue rules, so simulator tests run the real protocol without a portal.
"""
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import httpx
import pytest

from mdm_core import ca, commands, enrollment_profiles, queue
from mdm_core.checkin import parse_checkin
from mdm_core.identity import IdentityError, verify_mdm_signature
from mdm_core.scep import server as scep_server

PUBLIC_URL = "https://mdm.test"
CHALLENGE = "s3cret"
TOPIC = "com.apple.mgmt.External.00000000-1111-2222-3333-444444444444"


@dataclass
class QueuedCommand:
    uuid: str
    request_type: str
    body: bytes
    status: str = queue.QUEUED
    report: dict | None = None


@dataclass
class FakeServer:
    ca: ca.Identity
    checkins: list = field(default_factory=list)
    reports: list = field(default_factory=list)
    requests: list = field(default_factory=list)
    queues: dict = field(default_factory=dict)
    topic: str = TOPIC

    def enqueue(self, identifier: str, command: dict) -> QueuedCommand:
        command_uuid = commands.new_command_uuid()
        queued = QueuedCommand(command_uuid, command["RequestType"], commands.command_plist(command_uuid, command))
        self.queues.setdefault(identifier, []).append(queued)
        return queued

    def profile(self, variant: str = "user") -> bytes:
        spec = enrollment_profiles.EnrollmentProfileSpec(
            organization="Test Org", public_url=PUBLIC_URL, topic=self.topic, scep_challenge=CHALLENGE
        )
        if variant == "user":
            profile = enrollment_profiles.build_profile_driven_user_enrollment_profile(spec, "ana@example.com")
        else:
            profile = enrollment_profiles.build_device_enrollment_profile(spec)
        return enrollment_profiles.to_bytes(profile)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/scep":
            return self._scep(request)
        body = request.content
        try:
            verify_mdm_signature(request.headers.get("Mdm-Signature"), body, self.ca.certificate)
        except IdentityError as exc:
            return httpx.Response(403, text=str(exc))
        if request.url.path == "/mdm/checkin":
            self.checkins.append(parse_checkin(body))
            return httpx.Response(200)
        if request.url.path == "/mdm/connect":
            return self._connect(body)
        return httpx.Response(404)

    def _scep(self, request: httpx.Request) -> httpx.Response:
        operation = parse_qs(request.url.query.decode())["operation"][0]
        if operation == "GetCACaps":
            return httpx.Response(200, content=scep_server.get_ca_caps())
        if operation == "GetCACert":
            der, content_type = scep_server.get_ca_cert(self.ca)
            return httpx.Response(200, content=der, headers={"Content-Type": content_type})
        result = scep_server.handle_pki_operation(
            request.content, self.ca, authorize=lambda challenge, csr: challenge == CHALLENGE
        )
        return httpx.Response(200, content=result.response, headers={"Content-Type": "application/x-pki-message"})

    def _connect(self, body: bytes) -> httpx.Response:
        report = commands.parse_command_report(body)
        identifier = report.enrollment_id or report.udid
        self.reports.append(report)
        pending = self.queues.get(identifier, [])
        if report.status != "Idle":
            done = next(c for c in pending if c.uuid == report.command_uuid)
            done.status, done.report = queue.status_from_report(report.status), report.raw
        deliverable = queue.deliverable_statuses(report.status)
        next_command = next((c for c in pending if c.status in deliverable), None)
        if next_command is not None:
            next_command.status = queue.SENT
        return httpx.Response(200, content=queue.response_for(next_command and (next_command.uuid, next_command.body)))


@pytest.fixture(scope="session")
def test_ca():
    return ca.create_ca("Test MDM CA", "Test Org")


@pytest.fixture
def server(test_ca):
    return FakeServer(test_ca)


@pytest.fixture
def http(server):
    with httpx.Client(transport=httpx.MockTransport(server.handle), base_url=PUBLIC_URL) as client:
        yield client
