"""Command-line tools (``flask --app wsgi ...``): admins, API tokens (create, list, revoke), the demo set-up."""
from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path

import click
from flask import Flask
from sqlalchemy import func, select

from . import audit
from .admin.lockout import forget_failures
from .api_tokens import active_tokens_named, all_tokens, revoke
from .extensions import db
from .mail.smtp_url import check_address
from .models import Admin, ApiToken
from .models.api_token import DEFAULT_SCOPES, SCOPES

DEMO_ADMIN_EMAIL = "admin@example.com"
MAX_TOKEN_NAME = ApiToken.__table__.c.name.type.length


def upsert_admin(email: str, password: str) -> Admin:
    email = email.strip().lower()
    admin = db.session.scalar(select(Admin).where(func.lower(Admin.email) == email))
    if admin is None:
        admin = Admin(email=email)
        db.session.add(admin)
    admin.set_password(password)
    forget_failures(email)  # a reset also ends a lock-out
    return admin


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "-"


def _demo_apps(token_file: Path) -> None:
    from .apps.demo import load_demo_token

    try:
        location = load_demo_token(db.session, token_file.read_bytes())
    except ValueError as exc:
        raise click.ClickException(f"{token_file}: {exc}") from None
    if location.taken_over_from:
        click.echo(f"Apps and Books: the stand-in's location named another server ({location.taken_over_from}, "
                   "from a demo database deleted since?); this one took it over.")
    if location.error:
        click.echo(f"Apps and Books ({location.organization}): {location.error}", err=True)
    apps = ", ".join(f"{name or adam_id} {available}/{total}" for adam_id, name, available, total in location.apps)
    click.echo(f"Apps and Books: {'loaded the' if location.loaded else 'the'} content token of {location.organization}"
               f"; catalogue (licenses available/total): {apps or 'empty'} (Admin > Apps).")


def register_cli(app: Flask) -> None:
    @app.cli.command("create-admin")
    @click.argument("email")
    @click.option("--password", help="Password (prompted for when not given).")
    def create_admin(email: str, password: str | None) -> None:
        """Create an admin, or reset an existing admin's password."""
        try:  # the address alerts are mailed to: one no message can be written to was refused only then
            email = check_address(email)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="EMAIL") from None
        if password is None:
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        if len(password) < 12:
            raise click.BadParameter("use at least 12 characters", param_hint="--password")
        admin = upsert_admin(email, password)
        audit.record("admin.created_or_reset", target_type="admin", target_id=admin.email, actor_type="system", actor="cli")
        db.session.commit()
        click.echo(f"Admin {admin.email} is ready.")

    @app.cli.command("create-api-token")
    @click.argument("name")
    @click.option("--scope", "scopes", multiple=True, type=click.Choice(SCOPES),
                  help="Limit the token to these scopes (repeatable). Default: all scopes but 'mail' "
                       "and 'scim', which a token holds alone (directory sync).")
    def create_api_token(name: str, scopes: tuple[str, ...]) -> None:
        """Create an API token and print it once (only its hash is stored)."""
        if not name.strip() or len(name) > MAX_TOKEN_NAME:
            raise click.BadParameter(f"give the token a name of 1 to {MAX_TOKEN_NAME} characters", param_hint="NAME")
        try:  # a combination no token may hold ('scim' beside other scopes) is a usage error, not a traceback
            token_row, token = ApiToken.issue(name, scopes or DEFAULT_SCOPES)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--scope") from None
        db.session.add(token_row)
        audit.record("api_token.created", target_type="api_token", target_id=name,
                     detail={"scopes": token_row.scopes}, actor_type="system", actor="cli")
        db.session.commit()
        click.echo(token)

    @app.cli.command("list-api-tokens")
    def list_api_tokens() -> None:
        """List API tokens: id, name, scopes, created, last used and whether revoked (never the token)."""
        rows = [("ID", "NAME", "SCOPES", "CREATED", "LAST USED", "STATUS")]
        for row in all_tokens():
            rows.append((str(row.id), row.name, ",".join(row.scopes or []) or "-", _when(row.created_at),
                         _when(row.last_used_at), f"revoked {_when(row.revoked_at)}" if row.revoked_at else "active"))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
        for r in rows:
            click.echo("  ".join(cell.ljust(width) for cell, width in zip(r, widths)) + "  " + r[-1])

    @app.cli.command("revoke-api-token")
    @click.argument("name_or_id")
    def revoke_api_token(name_or_id: str) -> None:
        """Revoke the active API token with this id or name; it is refused (401) from the next request on."""
        found = active_tokens_named(name_or_id)
        if not found:
            raise click.ClickException(f"no active API token has the id or name {name_or_id!r} (see list-api-tokens)")
        if len(found) > 1:
            raise click.ClickException(f"{len(found)} active tokens are named {name_or_id!r}; revoke one by its id: "
                                       + ", ".join(str(row.id) for row in found))
        revoke(found[0], actor_type="system", actor="cli")
        db.session.commit()
        click.echo(f"Revoked API token {found[0].id} ({found[0].name}).")

    @app.cli.command("inventory-sweep")
    def inventory_sweep() -> None:
        """Queue an inventory round for every enrolled device that is due (run it from cron or a timer)."""
        from .inventory.sweep import run_sweep

        count = run_sweep()
        click.echo(f"Inventory queued for {count} device{'' if count == 1 else 's'}.")

    @app.cli.command("demo-setup")
    @click.option("--vpp-token", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                  help="The Apps and Books stand-in's content token (make run passes it): stored unless another "
                       "organisation's is, then the location is claimed and the catalogue synced.")
    def demo_setup(vpp_token: Path | None) -> None:
        """Prepare the local demo: make sure an admin exists and print its credentials once."""
        if vpp_token is not None:
            _demo_apps(vpp_token)
        if not app.config.get("OIDC_ISSUER"):
            from .auth.demo_idp import DEMO_USERS

            click.echo(f"Employees enroll at {app.config['PUBLIC_URL']}/enroll; the demo identity provider signs in "
                       f"{', '.join(user.email for user in DEMO_USERS)}.")
        has_admin = db.session.scalar(select(func.count()).select_from(Admin))
        if has_admin:
            click.echo("An admin account already exists (reset one with: flask --app wsgi create-admin EMAIL).")
            return
        password = secrets.token_urlsafe(12)
        upsert_admin(DEMO_ADMIN_EMAIL, password)
        audit.record("admin.created_or_reset", target_type="admin", target_id=DEMO_ADMIN_EMAIL, actor_type="system", actor="demo-setup")
        db.session.commit()
        click.echo("=" * 60)
        click.echo("Demo admin created. Sign in at /admin/login with:")
        click.echo(f"  email:    {DEMO_ADMIN_EMAIL}")
        click.echo(f"  password: {password}")
        click.echo("(shown once; reset it with: flask --app wsgi create-admin EMAIL)")
        click.echo("=" * 60)

    @app.cli.command("disable-admin")
    @click.argument("email")
    def disable_admin(email: str) -> None:
        """Disable an admin: their sessions end and they can no longer sign in (create-admin enables again)."""
        admin = db.session.scalar(select(Admin).where(func.lower(Admin.email) == email.strip().lower()))
        if admin is None:
            raise click.ClickException(f"no admin has the e-mail {email!r}")
        admin.disable()
        audit.record("admin.disabled", target_type="admin", target_id=admin.email, actor_type="system", actor="cli")
        db.session.commit()
        click.echo(f"Admin {admin.email} is disabled: signed out everywhere, no sign-in. To enable them again, set a "
                   f"new password: flask --app wsgi create-admin {admin.email}")
