"""The Flask application: ``create_app`` reads as the table of contents of the portal."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from .config import load_config
from .database.kept import keep_connections
from .database.ping import install_libpq_ping
from .database.unicode_lower import install_unicode_lower
from .extensions import csrf, db, login_manager, migrate
from .ids import IdConverter
from .json_provider import BoundedJSONProvider
from .logging_setup import configure_logging
from .mdm.command_connection import CommandConnection
from .security_headers import add_to_flask_responses, security_headers
from .rate_limits.guard import register_rate_limits
from .search_text import KeyConverter
from .session_cookie import CookieOnDemandSessionInterface

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app; ``config`` overrides environment settings (tests)."""
    app = Flask(__name__, instance_relative_config=True)
    app.json = BoundedJSONProvider(app)
    app.session_interface = CookieOnDemandSessionInterface()
    app.config.update(load_config(os.environ, Path(app.instance_path), config))
    app.url_map.converters["id"] = IdConverter
    app.url_map.converters["key"] = KeyConverter
    configure_logging(app.config["LOG_FORMAT"])
    headers = security_headers(app.config["PUBLIC_URL_HTTPS"])
    add_to_flask_responses(app, headers)
    app.wsgi_app = CommandConnection(app, app.wsgi_app, headers)
    if app.config["TRUSTED_PROXY_COUNT"]:
        n = app.config["TRUSTED_PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n)
    register_rate_limits(app)
    register_extensions(app)
    register_blueprints(app)
    register_hooks(app)
    register_error_handlers(app)
    register_commands(app)
    return app


def register_extensions(app: Flask) -> None:
    db.init_app(app)
    with app.app_context():
        if app.config["DATABASE_LIBPQ_PING"]:
            install_libpq_ping(db.engine)
        if db.engine.dialect.name == "sqlite":
            install_unicode_lower(db.engine)
        keep_connections(app, db.engine)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "admin.login"
    login_manager.session_protection = "strong"
    from . import models  # noqa: F401  (registers the tables on the metadata)
    from .admin.auth import load_admin

    login_manager.user_loader(load_admin)
    from .i18n import init_app as init_i18n

    init_i18n(app)


def register_blueprints(app: Flask) -> None:
    from .account_driven import bp as account_driven_bp
    from .admin import bp as admin_bp
    from .api import bp as api_bp
    from .auth import bp as auth_bp
    from .auth.demo_idp import register_demo_idp
    from .enrollment import bp as enrollment_bp
    from .health import bp as health_bp
    from .mdm import bp as mdm_bp
    from .me import bp as me_bp

    app.register_blueprint(health_bp)
    app.register_blueprint(mdm_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(enrollment_bp)
    app.register_blueprint(account_driven_bp)
    app.register_blueprint(me_bp, url_prefix="/me")
    register_demo_idp(app)
    app.register_blueprint(admin_bp, url_prefix="/admin")
    app.register_blueprint(api_bp, url_prefix="/api/v1")
    csrf.exempt(api_bp)  # bearer-token API: no cookies, so no CSRF
    from .scim import bp as scim_bp

    app.register_blueprint(scim_bp, url_prefix="/scim/v2")
    csrf.exempt(scim_bp)  # bearer-token directory sync: no cookies, so no CSRF


def register_hooks(app: Flask) -> None:
    """What one part runs when another acts, wired here so neither imports the other."""
    from .auth.views import SIGN_IN_HOOKS
    from .desired_state import signed_in

    app.extensions[SIGN_IN_HOOKS] = [signed_in]


def register_error_handlers(app: Flask) -> None:
    from .errors import register_error_handlers as register

    register(app)


def register_commands(app: Flask) -> None:
    from .cli import register_cli
    from .push.cli import register_push_cli
    from .worker import register_worker_cli

    register_cli(app)
    register_push_cli(app)
    register_worker_cli(app)
