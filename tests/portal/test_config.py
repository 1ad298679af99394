import os
import re
import stat
from pathlib import Path

import pytest

from portal import create_app
from portal.config import ConfigError, load_config


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DATABASE_URL", "not a url", "DATABASE_URL is not a valid SQLAlchemy URL"),
        ("DATABASE_URL", "mysql://u:p@h/db", "supported: sqlite, postgresql"),
        ("PUBLIC_URL", "mdm.example.com", "PUBLIC_URL='mdm.example.com' is not an absolute http(s) URL"),
        ("PUBLIC_URL", "https://mdm.example.com/?a=b", "must not carry a query string"),
        ("APNS_ENDPOINT", "ftp://push", "APNS_ENDPOINT='ftp://push' is not an absolute http(s) URL"),
        ("APNS_CA_BUNDLE", "/nonexistent/ca.pem", "APNS_CA_BUNDLE='/nonexistent/ca.pem' is not a readable file"),
        ("OIDC_ISSUER", "https://idp.example.com", "OIDC_CLIENT_ID must be set"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT='xml' must be 'text' or 'json'"),
        ("MAX_CONTENT_LENGTH", "lots", "MAX_CONTENT_LENGTH='lots' is not a whole number"),
        ("SECRET_KEY", "short", "SECRET_KEY must be at least 32 characters"),
        ("MDM_CLIENT_CERT_HEADER", "X Client: Cert", "is not an HTTP header name"),
        ("DATABASE_PRE_PING", "maybe", "DATABASE_PRE_PING='maybe' must be true or false"),
    ],
)
def test_factory_refuses_each_bad_value_with_a_clear_message(monkeypatch, tmp_path, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as excinfo:
        load_config(os.environ, tmp_path)
    assert message in str(excinfo.value)


def test_create_app_raises_config_error_for_bad_environment(monkeypatch):
    monkeypatch.setenv("PUBLIC_URL", "not-a-url")
    with pytest.raises(ConfigError, match="PUBLIC_URL"):
        create_app()


def test_defaults_use_sqlite_in_instance_folder_and_generate_a_private_secret_key(tmp_path):
    config = load_config({}, tmp_path)
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'byod-mdm.sqlite3'}"
    key_file = tmp_path / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert config["SECRET_KEY"] == key_file.read_text().strip()
    assert load_config({}, tmp_path)["SECRET_KEY"] == config["SECRET_KEY"], "the key is kept, not regenerated"
    assert config["SESSION_COOKIE_SECURE"] is False


def test_https_public_url_turns_on_secure_cookies(tmp_path):
    config = load_config({"PUBLIC_URL": "https://mdm.example.com/"}, tmp_path)
    assert config["PUBLIC_URL"] == "https://mdm.example.com"
    assert config["SESSION_COOKIE_SECURE"] is True and config["REMEMBER_COOKIE_SECURE"] is True


def test_the_app_store_lookup_is_off_with_off_or_with_the_configs_own_none(tmp_path):
    assert load_config({"ITUNES_LOOKUP_URL": "off"}, tmp_path)["ITUNES_LOOKUP_URL"] is None
    assert load_config({}, tmp_path, {"ITUNES_LOOKUP_URL": None})["ITUNES_LOOKUP_URL"] is None
    assert load_config({}, tmp_path)["ITUNES_LOOKUP_URL"] == "https://itunes.apple.com/lookup"


def test_every_problem_is_reported_at_once(tmp_path):
    with pytest.raises(ConfigError) as excinfo:
        load_config({"PUBLIC_URL": "x", "LOG_FORMAT": "y"}, tmp_path)
    assert "PUBLIC_URL" in str(excinfo.value) and "LOG_FORMAT" in str(excinfo.value)


@pytest.mark.parametrize(("value", "expected"), [(None, True), ("false", False), ("0", False), ("TRUE", True)])
def test_database_pre_ping_defaults_on_and_can_be_switched_off(monkeypatch, tmp_path, value, expected):
    monkeypatch.delenv("DATABASE_PRE_PING", raising=False)
    if value is not None:
        monkeypatch.setenv("DATABASE_PRE_PING", value)
    assert load_config(os.environ, tmp_path)["SQLALCHEMY_ENGINE_OPTIONS"]["pool_pre_ping"] is expected


@pytest.mark.parametrize(("pre_ping", "sqlalchemy_ping", "libpq_ping"), [("true", False, True), ("false", False, False)])
def test_postgresql_through_psycopg_is_pinged_through_libpq(tmp_path, pre_ping, sqlalchemy_ping, libpq_ping):
    config = load_config({"DATABASE_URL": "postgresql+psycopg://u@db.example/mdm", "DATABASE_PRE_PING": pre_ping},
                         tmp_path)
    assert config["SQLALCHEMY_ENGINE_OPTIONS"]["pool_pre_ping"] is sqlalchemy_ping
    assert config["DATABASE_LIBPQ_PING"] is libpq_ping


@pytest.mark.parametrize(("url", "connect_args"), [
    ("postgresql+psycopg://u@db.example/mdm", {"connect_timeout": 2}),
    ("postgresql+psycopg://u@db.example/mdm?connect_timeout=10", None),  # the URL's own wins
    ("sqlite:///x.sqlite3", None),
])
def test_postgresql_connections_give_up_fast_on_an_unreachable_server(tmp_path, url, connect_args):
    options = load_config({"DATABASE_URL": url}, tmp_path)["SQLALCHEMY_ENGINE_OPTIONS"]
    assert options.get("connect_args") == connect_args


def test_every_setting_the_portal_reads_is_documented_in_readme_and_env_example():
    root = Path(__file__).resolve().parents[2]
    read = set(re.findall(r'\bget\("([A-Z][A-Z0-9_]+)"', (root / "portal" / "config.py").read_text()))
    assert {"DATABASE_URL", "SECRET_KEY", "SMTP_URL", "MAIL_FROM", "VPP_CA_BUNDLE"} <= read
    readme, example = (root / "README.md").read_text(), (root / ".env.example").read_text()
    assert [name for name in sorted(read) if not re.search(rf"\b{name}\b", readme)] == []
    assert [name for name in sorted(read) if not re.search(rf"^#? ?{name}=", example, re.M)] == []
    elsewhere = [path for path in (root / "portal").rglob("*.py") if path.name != "config.py"
                 and re.search(r"os\.(environ\b(?!,)|getenv)", path.read_text())]
    assert elsewhere == [], "settings are read in portal/config.py only (create_app passes os.environ to it)"


def test_defaults_are_the_documented_ones(tmp_path):
    config = load_config({}, tmp_path)
    assert config["PUBLIC_URL"] == "http://127.0.0.1:8000" and config["APNS_ENDPOINT"] == "https://api.push.apple.com"
    assert (config["OIDC_SCOPES"], config["OIDC_MANAGED_APPLE_ID_CLAIM"], config["OIDC_GROUPS_CLAIM"]) == (
        "openid email profile", "email", "groups")
    assert config["OIDC_ISSUER"] is None and config["APNS_CA_BUNDLE"] is None and config["VPP_CA_BUNDLE"] is None
    assert config["SMTP_URL"] is None and config["MAIL_FROM"] is None


@pytest.mark.parametrize("command", [["-m", "flask", "--app", "wsgi", "db", "upgrade"],
                                     ["-c", "import wsgi"]])  # gunicorn's workers import wsgi:app
def test_a_bad_setting_stops_the_commands_and_gunicorn_with_its_message_alone(tmp_path, command):
    """No traceback before the message; status 3 is gunicorn's "worker failed to boot", so the master stops."""
    import subprocess
    import sys

    from tests.helpers import REPO

    environ = {**os.environ, "PYTHONPATH": str(REPO), "FLASK_SKIP_DOTENV": "1", "LOG_FORMAT": "loud",
               "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    done = subprocess.run([sys.executable, *command], cwd=REPO, env=environ, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 3, done.stderr
    assert done.stderr.strip() == "Invalid configuration:\n  - LOG_FORMAT='loud' must be 'text' or 'json'"
