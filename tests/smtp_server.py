"""A real SMTP server for the tests (aiosmtpd on a thread): what arrives, and a way to hold a message."""
from __future__ import annotations

import socket
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller

SENDER = "it@example.org"  # MAIL_FROM in the tests


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Recorder:
    """Keeps each accepted message; ``hold_at`` makes the server wait before answering that message's DATA."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.hold_at: int | None = None  # 1-based number of the DATA to hold
        self.holding = threading.Event()
        self.release = threading.Event()
        self.refuse_held = False  # answer the held DATA with 451 (the client died meanwhile: never accepted)
        self._seen = 0
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        import asyncio

        with self._lock:
            self._seen += 1
            number = self._seen
        if number == self.hold_at:
            self.holding.set()
            while not self.release.is_set():
                await asyncio.sleep(0.02)
            if self.refuse_held:
                return "451 4.3.0 try again later"
        with self._lock:
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 2.0.0 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in str(m["To"])]


class SmtpServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.recorder = Recorder()
        self._controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def messages(self) -> list[EmailMessage]:
        return self.recorder.messages

    def start(self) -> "SmtpServer":
        self._controller.start()
        return self

    def stop(self) -> None:
        self.recorder.release.set()
        self._controller.stop()
