"""Mail tests: a real SMTP server, and the app pointed at it."""
import pytest

from tests.smtp_server import SENDER, SmtpServer




@pytest.fixture
def smtp_server():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def mail_app(app, smtp_server, monkeypatch):
    """The app sending through ``smtp_server`` (as SMTP_URL and MAIL_FROM in the environment would)."""
    monkeypatch.setitem(app.config, "SMTP_URL", smtp_server.url)
    monkeypatch.setitem(app.config, "MAIL_FROM", SENDER)
    return app
