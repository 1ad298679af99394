"""The admin page for user-initiated enrollment settings (the same values as /api/v1/settings/enrollment)."""
from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_login import login_required
from werkzeug.datastructures import MultiDict

from .. import audit
from ..extensions import db
from ..i18n import LANGUAGES
from ..ids import MAX_ID, parse_int
from ..settings_store import (SettingsValidationError, load_enrollment_settings, update_enrollment_settings)
from . import bp

CHECKBOXES = ("profile_driven_enabled", "account_driven_enabled", "legacy_device_enrollment_enabled")
LISTS = ("managed_domains", "allowed_domains", "allowed_groups")


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.replace(",", "\n").splitlines() if line.strip()]


def changes_from_form(form: MultiDict) -> tuple[dict[str, Any], dict[str, str]]:
    """The submitted values in the API's shape, and errors for fields that are not even the right kind."""
    errors: dict[str, str] = {}
    changes: dict[str, Any] = {name: form.get(name) == "on" for name in CHECKBOXES}
    changes.update({name: _lines(form.get(name, "")) for name in LISTS})
    limit = form.get("max_devices_per_user", "").strip()
    if not limit:
        changes["max_devices_per_user"] = None
    elif (number := parse_int(limit, minimum=0, maximum=MAX_ID)) is not None:
        changes["max_devices_per_user"] = number
    else:
        errors["max_devices_per_user"] = "must be a whole number, or empty for no limit"
    changes["organization_name"] = form.get("organization_name", "")
    changes["privacy_disclosure"] = form.get("privacy_disclosure", "")
    texts = {key.removeprefix("enrollment_text."): value for key, value in form.items() if key.startswith("enrollment_text.")}
    new_language = form.get("new_language", "").strip().lower()
    if new_language and form.get("new_language_text", "").strip():
        texts[new_language] = form["new_language_text"]
    changes["enrollment_text"] = texts
    translations = {key.removeprefix("privacy_disclosure."): value for key, value in form.items()
                    if key.startswith("privacy_disclosure.")}
    if translations:
        changes["privacy_disclosure_translations"] = translations
    if "default_language" in form:
        changes["default_language"] = form["default_language"]
    return changes, errors


@bp.route("/settings/enrollment", methods=["GET", "POST"])
@login_required
def enrollment_settings():
    settings = load_enrollment_settings()
    if request.method == "GET":
        return render_template("admin/enrollment_settings.html", settings=settings, errors={}, values=None,
                               languages=LANGUAGES)
    changes, errors = changes_from_form(request.form)
    if not errors:
        try:
            settings, changed = update_enrollment_settings(changes)
        except SettingsValidationError as exc:
            errors = exc.errors
        else:
            if changed:
                audit.record("settings.enrollment_updated", target_type="settings", target_id="enrollment",
                             detail={"changed": changed})
            db.session.commit()
            flash("Enrollment settings saved." if changed else "Nothing changed.", "info")
            return redirect(url_for("admin.enrollment_settings"))
    db.session.rollback()
    return render_template("admin/enrollment_settings.html", settings=settings, errors=errors, values=request.form,
                           languages=LANGUAGES), 422
