"""Reading a status report's managed apps and certificates (``mdm_core.ddm.status_lists``)."""
import base64
import hashlib
import json

from mdm_core.ddm.status import parse_status_report
from mdm_core.ddm.status_lists import MAX_LIST_ENTRIES, accounts, certificates, managed_apps


def report(apps=None, certs=None, full=False, **account_lists):
    """``account_lists``: ``mail_incoming=[...]`` is ``account.list.mail.incoming``."""
    items = {"account": {"list": {}}} if account_lists else {}
    for name, entries in account_lists.items():
        *parents, last = name.replace("_", ".").replace("subscribed.calendar", "subscribed-calendar").split(".")
        node = items["account"]["list"]
        for parent in parents:
            node = node.setdefault(parent, {})
        node[last] = entries
    if apps is not None:
        items["app"] = {"managed": {"list": apps}}
    if certs is not None:
        items["security"] = {"certificate": {"list": certs}}
    return parse_status_report(json.dumps({"StatusItems": items, "FullReport": full}).encode())


def test_a_report_without_the_list_updates_nothing():
    assert managed_apps(report(certs=[])) is None and certificates(report(apps=[])) is None


def test_entries_removed_and_written_and_the_last_word_wins():
    update = managed_apps(report([{"identifier": "a", "state": "managed"}, {"identifier": "b", "_removed": True},
                                  {"identifier": "a", "_removed": True}, {"identifier": "c", "_removed": True},
                                  {"identifier": "c", "name": "C again"}]))
    assert not update.whole
    assert set(update.records) == {"c"} and update.removed == {"a", "b"}
    assert update.records["c"].name == "C again"
    assert managed_apps(report([], full=True)).whole


def test_certificates_are_keyed_by_their_der_and_one_der_is_kept_once():
    der = b"\x30\x03\x02\x01\x01"
    text = base64.b64encode(der).decode()
    update = certificates(report(certs=[{"identifier": "one", "data": text}, {"identifier": "two", "data": text},
                                        {"identifier": "three"}]))
    assert list(update.records) == ["two"] and update.listed == {"one", "two"}, "both name the certificate"
    assert update.records["two"].fingerprint == hashlib.sha256(der).hexdigest()
    again = certificates(report(certs=[{"identifier": "one", "data": text}, {"identifier": "two", "data": text},
                                       {"identifier": "one", "data": text}]))
    assert list(again.records) == ["one"], "the later entry keeps the key"


def test_at_most_max_list_entries_are_read_and_a_list_cut_there_is_not_whole():
    update = managed_apps(report([{"identifier": f"app{n}"} for n in range(MAX_LIST_ENTRIES + 5)], full=True))
    assert len(update.records) == MAX_LIST_ENTRIES and not update.whole
    assert managed_apps(report([{"identifier": f"app{n}"} for n in range(MAX_LIST_ENTRIES)], full=True)).whole


def test_an_entry_leaves_out_what_it_does_not_carry():
    app = managed_apps(report([{"identifier": "com.example.a", "state": "managed"}])).records["com.example.a"]
    assert (app.name, app.version, app.short_version, app.status) == (None, None, None, "Managed")


def test_an_apps_state_reads_as_managed_application_list_words():
    states = ["managed-but-uninstalled", "prompting-for-login", "failed", "", "--", "x" * 5000, 7, "ß-" * 128]
    update = managed_apps(report([{"identifier": f"a{n}", "state": state} for n, state in enumerate(states)]))
    assert [update.records[f"a{n}"].status for n in range(len(states))] == [
        "ManagedButUninstalled", "PromptingForLogin", "Failed", "", "", "X" + "x" * 254, None, "SS" * 127 + "S"], \
        "cut to the column after upper-casing, which lengthens ß"


def test_accounts_are_read_from_every_list_and_only_those_a_declaration_installed_are_kept():
    update = accounts(report(full=True, mail_incoming=[
        {"identifier": "m1", "declaration-identifier": "work.mail", "visible-name": "Work", "hostname": "imap.example.org",
         "port": 993, "username": "alice"},
        {"identifier": "personal", "visible-name": "My own mail", "hostname": "imap.personal.example"}],
        mail_outgoing=[{"identifier": "m1", "declaration-identifier": "work.mail", "port": 70000}],
        caldav=[{"identifier": "c1", "declaration-identifier": "work.cal", "port": True}]))
    assert update.whole
    assert set(update.records) == {"mail.incoming/m1", "mail.outgoing/m1", "caldav/c1"}, "no personal account"
    incoming = update.records["mail.incoming/m1"]
    assert (incoming.account_type, incoming.declaration_identifier, incoming.visible_name, incoming.hostname,
            incoming.port, incoming.username) == ("mail.incoming", "work.mail", "Work", "imap.example.org", 993, "alice")
    assert update.records["mail.outgoing/m1"].port is None and update.records["caldav/c1"].port is None
    assert accounts(report(apps=[])) is None


def test_an_account_removed_from_one_list_is_removed_there_only_and_many_lists_together_are_cut():
    update = accounts(report(mail_incoming=[{"identifier": "m1", "_removed": True}],
                             subscribed_calendar=[{"identifier": "s1", "declaration-identifier": "holidays"}]))
    assert not update.whole and update.removed == {"mail.incoming/m1"} and set(update.records) == {"subscribed-calendar/s1"}
    half = MAX_LIST_ENTRIES // 2 + 1
    many = accounts(report(full=True, caldav=[{"identifier": f"c{n}", "declaration-identifier": "d"} for n in range(half)],
                           carddav=[{"identifier": f"k{n}", "declaration-identifier": "d"} for n in range(half)]))
    assert len(many.records) == MAX_LIST_ENTRIES and not many.whole
