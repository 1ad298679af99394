"""Push commands: ``flask --app wsgi apns import-cert ...`` (pushes are sent by ``flask --app wsgi worker``)."""
from __future__ import annotations

from pathlib import Path

import click
from flask import Flask

from mdm_core.apns.certificate import PushCertificateError

from ..extensions import db
from .certificate import TopicChangeRefused, import_push_certificate


def register_push_cli(app: Flask) -> None:
    @app.cli.group("apns")
    def apns() -> None:
        """The MDM push certificate."""

    @apns.command("import-cert")
    @click.argument("certificate", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                  help="PEM private key, when CERTIFICATE is a PEM certificate without it.")
    @click.option("--password", default=None, help="Password of the PKCS#12 file or of the key (prompted with --ask-password).")
    @click.option("--ask-password", is_flag=True, help="Prompt for the password.")
    @click.option("--allow-topic-change", is_flag=True,
                  help="Accept a certificate with another topic (enrolled devices must enroll again).")
    def import_cert(certificate: Path, key: Path | None, password: str | None, ask_password: bool,
                    allow_topic_change: bool) -> None:
        """Import the MDM push certificate (PEM with --key, or PKCS#12) from the Apple Push Certificates Portal."""
        if ask_password:
            password = click.prompt("Password", hide_input=True, default="", show_default=False)
        try:
            push = import_push_certificate(certificate.read_bytes(), key.read_bytes() if key else None, password,
                                           allow_topic_change=allow_topic_change)
        except TopicChangeRefused as exc:
            db.session.rollback()
            raise click.ClickException(f"{exc} (to confirm: --allow-topic-change)") from None
        except PushCertificateError as exc:
            db.session.rollback()
            raise click.ClickException(f"refused: {exc}") from None
        db.session.commit()
        click.echo(f"Push certificate imported: topic {push.topic}, expires {push.not_after:%Y-%m-%d} "
                   f"({push.days_left()} days left).")
