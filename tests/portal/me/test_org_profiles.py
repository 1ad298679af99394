"""The employee's page lists each organisation profile on their phone with a plain sentence of what it
does: the person's own values filled in, no identifier, nothing about their personal data."""
import pytest
from sqlalchemy import select

from mdm_core import mobileconfig, plist
from portal.extensions import db
from portal.me.profile_sentences import SENTENCES, describe
from portal.models import EndUser, ProfileState
from portal.profiles.service import create_profile
from tests.helpers import PROFILE_CORPUS, demo_sign_in, page_statements


def corpus(name):
    return mobileconfig.decode((PROFILE_CORPUS / f"{name}.mobileconfig").read_bytes()).profile


@pytest.mark.parametrize("name, sentences", [
    ("wifi-wpa2", ["Connects to the Wi-Fi network Example Guest."]),
    ("wifi-eap-tls-scep", ["Installs a certificate that identifies you to work services such as Wi-Fi, VPN or mail.",
                           "Connects to the Wi-Fi network Example Corp with a certificate that identifies you."]),
    ("caldav", ["Adds a work calendar account to Calendar (dav.example.com)."]),
    ("per-app-vpn", ["Sets up the VPN Work VPN for work apps only; your own apps do not use it."]),
    ("web-clip", ["Adds the Intranet icon to your Home Screen, opening intranet.example.com."]),
    ("root-cert", ["Lets your device trust the organisation's servers (a certificate authority)."]),
    ("full-device-vpn", ["Applies a work setting of the organisation."]),
])
def test_each_payload_gets_its_sentence(name, sentences):
    assert describe(corpus(name)) == sentences


def test_every_builder_kind_has_a_sentence_and_unfilled_variables_are_left_out():
    from portal.admin.profiles.builder_fields import KINDS

    assert {kind.cls.PAYLOAD_TYPE for kind in KINDS.values()} <= set(SENTENCES)
    assert describe(corpus("imap-mail")) == ["Adds your work mail account to Mail."]
    assert describe(corpus("exchange")) == ["Adds your work Exchange account to Mail, Calendar and Contacts."]


def test_a_passcode_sentence_reads_only_what_the_enrollment_applies():
    assert describe(corpus("passcode-ue-ignored"), user_enrollment=False) == [
        "Requires a passcode of at least 8 characters."]
    assert describe(corpus("passcode-ue-ignored"), user_enrollment=True) == ["Requires a passcode on your device."]


def test_me_lists_the_profiles_on_the_persons_phone_in_plain_words(app, client, seed):
    demo_sign_in(client, next_path="/me/")
    hostile = corpus("wifi-wpa2")
    hostile["PayloadContent"][0]["SSID_STR"] = "<script>alert(1)</script>"
    with app.app_context():
        user = db.session.scalar(select(EndUser))
        [mine] = seed(1, managed_apple_id=user.managed_apple_id)
        [theirs] = seed(1, managed_apple_id="someone-else@example.org")
        mail = create_profile(db.session, (PROFILE_CORPUS / "imap-mail.mobileconfig").read_bytes(), "Work mail", None)
        wifi = create_profile(db.session, plist.dumps(hostile), "Guest Wi-Fi", None)
        gone = create_profile(db.session, (PROFILE_CORPUS / "caldav.mobileconfig").read_bytes(), "Calendar", None)
        db.session.add_all([
            ProfileState(profile_id=mail.id, device_id=mine, operation="install", status="installed"),
            ProfileState(profile_id=wifi.id, device_id=mine, operation="install", status="pending"),
            ProfileState(profile_id=gone.id, device_id=mine, operation="remove", status="removing"),
            ProfileState(profile_id=gone.id, device_id=theirs, operation="install", status="installed")])
        db.session.commit()
        identifiers = [mail.identifier, wifi.identifier, gone.identifier]
        email = user.email
    html = client.get("/me/").get_data(as_text=True)
    assert "Work settings the organisation puts on this device" in html
    assert f"Adds your work mail account to Mail ({email})." in html, "the person's own values filled in"
    assert "Connects to the Wi-Fi network &lt;script&gt;alert(1)&lt;/script&gt;." in html and "on its way" in html
    assert "Calendar" not in html.split("Work settings")[1].split("</section>")[0], "a profile being removed is not"
    assert not any(identifier in html for identifier in identifiers), "no raw identifiers"


def test_a_host_that_is_not_a_url_is_shown_as_written_not_an_error():
    caldav = corpus("caldav")
    caldav["PayloadContent"][0]["CalDAVHostName"] = "[dav.example.com"
    assert describe(caldav) == ["Adds a work calendar account to Calendar ([dav.example.com)."]


def test_me_reads_the_profiles_contents_in_one_statement_whatever_their_number(app, client, seed):
    demo_sign_in(client, next_path="/me/")
    with app.app_context():
        [mine] = seed(1, managed_apple_id=db.session.scalar(select(EndUser)).managed_apple_id)

    def install(first, count):
        with app.app_context():
            for index in range(first, first + count):
                content = corpus("wifi-wpa2")
                content["PayloadIdentifier"] = f"org.example.wifi.{index}"
                profile = create_profile(db.session, plist.dumps(content), f"Wi-Fi {index}", None)
                db.session.add(ProfileState(profile_id=profile.id, device_id=mine, operation="install",
                                            status="installed"))
            db.session.commit()

    install(0, 3)
    few = len(page_statements(app, client, "/me/"))
    install(3, 27)
    assert len(page_statements(app, client, "/me/")) == few, "not a content load per profile"
    assert client.get("/me/").get_data(as_text=True).count("Connects to the Wi-Fi network Example Guest.") == 30
