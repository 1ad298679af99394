"""Editing the messages per kind and language, with a preview; the shipped text is the starting point."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from .. import audit
from ..extensions import db
from ..i18n import LANGUAGES
from ..mail.templates import KINDS, Rendered, TemplateProblem, check_version, override_for, render_default
from ..models import MailTemplate
from . import bp


def _starter(kind: str, language: str) -> Rendered:
    """The shipped message with each value left as its placeholder, to edit from."""
    placeholders = {name: "{{ " + name + " }}" for name in KINDS[kind].values}
    placeholders.update(devices=[], account_driven=True, profile_driven=True)
    return render_default(kind, language, placeholders)


@bp.get("/mail/templates")
@login_required
def mail_templates():
    custom = {(t.kind, t.language) for t in db.session.scalars(select(MailTemplate))}
    return render_template("admin/mail_templates.html", kinds=KINDS, languages=LANGUAGES, custom=custom)


@bp.route("/mail/templates/<kind>/<language>", methods=["GET", "POST"])
@login_required
def mail_template(kind: str, language: str):
    if kind not in KINDS or language not in LANGUAGES:
        abort(404)
    override = override_for(kind, language)
    if request.method == "GET":
        source = override or _starter(kind, language)
        values = {"subject": source.subject,
                  "text_body": source.text_body if override else source.text,
                  "html_body": source.html_body if override else source.html}
        return _page(kind, language, override, values)
    action = request.form.get("action")
    if action == "reset":
        if override is not None:
            db.session.delete(override)
            audit.record("mail.template_reset", target_type="mail_template", target_id=f"{kind}/{language}")
            db.session.commit()
        flash("The shipped message is used again.", "info")
        return redirect(url_for("admin.mail_template", kind=kind, language=language)), 303
    values = {name: request.form.get(name, "") for name in ("subject", "text_body", "html_body")}
    try:
        preview = check_version(KINDS[kind], values["subject"], values["text_body"], values["html_body"])
    except TemplateProblem as exc:
        return _page(kind, language, override, values, problem=exc, status=422)
    if action != "save":
        return _page(kind, language, override, values, preview=preview)
    if override is None:
        override = MailTemplate(kind=kind, language=language)
        db.session.add(override)
    override.subject, override.text_body, override.html_body = values["subject"], values["text_body"], values["html_body"]
    override.updated_by = current_user.email
    audit.record("mail.template_saved", target_type="mail_template", target_id=f"{kind}/{language}")
    db.session.commit()
    flash("Saved: this message now goes out in this version.", "info")
    return redirect(url_for("admin.mail_template", kind=kind, language=language)), 303


def _page(kind: str, language: str, override, values: dict, *, preview: Rendered | None = None,
          problem: TemplateProblem | None = None, status: int = 200):
    return render_template("admin/mail_template.html", kind=KINDS[kind], language=language, override=override,
                           values=values, preview=preview, problem=problem), status
