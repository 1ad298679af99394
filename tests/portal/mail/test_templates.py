"""Messages per kind and language: the shipped templates (gettext), admins' versions (sandboxed), preview."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.mail.templates import KINDS, TemplateProblem, check_version, render
from portal.models import MailTemplate

NOTICE = dict(KINDS["migration_notice"].sample)


def test_the_notice_is_shipped_in_english_and_german(app_ctx):
    english, german = render("migration_notice", "en", NOTICE), render("migration_notice", "de", NOTICE)
    assert english.subject == "Example Org: please move your device to User Enrollment"
    assert german.subject == "Example Org: Bitte stellen Sie Ihr Gerät auf die Benutzerregistrierung um"
    assert "Warum es für Ihre Privatsphäre besser ist" in german.text and "Hallo Dana Example," in german.html
    assert '<html lang="de">' in german.html and "https://mdm.example.org/enroll" in german.text


def test_the_steps_follow_what_the_devices_can_do(app_ctx):
    both = render("migration_notice", "en", NOTICE).text
    assert "On iOS 15 or later" in both and "On iOS 17 or earlier" in both and "After 14 days" in both
    only_account = render("migration_notice", "en", NOTICE | {"profile_driven": False, "unenroll_after_days": None}).text
    assert "On iOS 15 or later" in only_account and "On iOS 17 or earlier" not in only_account
    assert "After" not in only_account


def test_a_language_without_a_catalogue_falls_back_to_english(app_ctx):
    assert render("test", "pt", KINDS["test"].sample).subject == "Test message from Example Org"
    assert render("test", "ja", KINDS["test"].sample).subject == "Example Orgからのテストメッセージ"


def test_an_admins_version_is_used_for_its_language_only(app_ctx):
    db.session.add(MailTemplate(kind="test", language="fr", subject="Essai {{ organization }}",
                                text_body="Bonjour {{ portal_url }}", html_body="<p>{{ organization }}</p>"))
    db.session.commit()
    french = render("test", "fr", {"organization": "<Org>", "portal_url": "https://x.example/"})
    assert (french.subject, french.text, french.html) == ("Essai <Org>", "Bonjour https://x.example/", "<p>&lt;Org&gt;</p>")
    assert render("test", "en", KINDS["test"].sample).subject == "Test message from Example Org"


@pytest.mark.parametrize("subject, text, html, field", [
    ("{{ secret_key }}", "x", "x", "subject"),  # only the kind's values
    ("ok", "{{ organization.__class__.__mro__ }}", "x", "text_body"),  # the sandbox
    ("ok", "x", "{% for %}", "html_body"),
    ("", "x", "x", "subject"),
])
def test_a_version_that_does_not_render_is_refused_naming_the_part(subject, text, html, field):
    with pytest.raises(TemplateProblem) as problem:
        check_version(KINDS["test"], subject, text, html)
    assert problem.value.field == field


def test_admin_edits_previews_saves_and_resets_a_version(app, admin_client):
    from tests.helpers import csrf_token_from

    page = admin_client.get("/admin/mail/templates/migration_notice/de")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Hallo {{ name }}," in text, "the shipped German text, with its placeholders, to start from"
    form = {"csrf_token": csrf_token_from(text), "subject": "Bitte umstellen, {{ name }}",
            "text_body": "Hallo {{ name }}", "html_body": "<p>Hallo {{ name }}</p>"}
    preview = admin_client.post("/admin/mail/templates/migration_notice/de", data=form | {"action": "preview"})
    assert preview.status_code == 200 and "Bitte umstellen, Dana Example" in preview.get_data(as_text=True)
    bad = admin_client.post("/admin/mail/templates/migration_notice/de", data=form | {"action": "save",
                                                                                      "subject": "{{ nope }}"})
    assert bad.status_code == 422 and "Not saved: subject" in bad.get_data(as_text=True)
    assert admin_client.post("/admin/mail/templates/migration_notice/de", data=form | {"action": "save"}).status_code == 303
    with app.app_context():
        assert db.session.scalar(select(MailTemplate.subject)) == "Bitte umstellen, {{ name }}"
        assert render("migration_notice", "de", NOTICE).subject == "Bitte umstellen, Dana Example"
    assert admin_client.post("/admin/mail/templates/migration_notice/de",
                             data={"csrf_token": form["csrf_token"], "action": "reset"}).status_code == 303
    with app.app_context():
        assert db.session.scalar(select(MailTemplate)) is None
    assert admin_client.get("/admin/mail/templates/nope/de").status_code == 404
    assert admin_client.get("/admin/mail/templates/test/xx").status_code == 404


def test_an_admins_version_is_compiled_once_for_many_messages(app_ctx, monkeypatch):
    from portal.mail import templates
    from portal.mail.outbox import Letter, queue_many

    db.session.add(MailTemplate(kind="test", language="fr", subject="Essai {{ organization }} 4711",
                                text_body="Bonjour {{ portal_url }} 4711", html_body="<p>{{ organization }} 4711</p>"))
    db.session.commit()
    compiled = []
    for environment in templates._sandboxes.values():
        original = environment.from_string
        monkeypatch.setattr(environment, "from_string", lambda source, _f=original: compiled.append(source) or _f(source))
    letters = [Letter(f"p{i}@example.org", "fr", {"organization": f"Org {i}", "portal_url": "https://x.example/"})
               for i in range(20)]
    queue_many("test", letters)
    assert len(compiled) <= 3  # subject, text and HTML: once each, not once per message
    db.session.rollback()
