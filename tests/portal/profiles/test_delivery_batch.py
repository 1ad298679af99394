"""Delivery is set-based: a profile is checked and signed once per batch, the commands and their pushes are
written in a constant number of statements, and every command still passes the capability check."""
import plistlib

import pytest
from sqlalchemy import func, insert, select

from mdm_core import cms, profile_check
from portal.extensions import db
from portal.models import Command, Profile, ProfileState, PushOutbox
from portal.models.base import utcnow
from portal.profiles.delivery import deliver
from portal.push import outbox
from tests.helpers import PROFILE_CORPUS as CORPUS
from tests.portal.profiles.test_reconciliation import counted_statements

PUSHABLE = {"push_token": "ab" * 32, "push_magic": "magic"}


def _pending(profile_id, device_ids):
    now = utcnow()
    db.session.execute(insert(ProfileState), [
        {"profile_id": profile_id, "device_id": device_id, "operation": "install", "status": "pending", "attempts": 0,
         "updated_at": now} for device_id in device_ids])
    db.session.commit()


def _count(model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _counting(monkeypatch, module, name):
    calls = []
    original = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_a_profile_is_checked_and_signed_once_per_batch_and_each_device_gets_its_own_command(
        app, seed, upload, monkeypatch):
    devices = seed(6, **PUSHABLE) + seed(2, enrollment_type="device", **PUSHABLE)
    profile_id = upload("wifi-wpa2")
    checks = _counting(monkeypatch, profile_check, "check_profile")
    verifications = _counting(monkeypatch, cms, "verify")
    signatures = _counting(monkeypatch, cms, "sign")
    with app.app_context():
        _pending(profile_id, devices)
        assert deliver(db.session) == 8
        db.session.commit()
        assert [enrollment_type for _profile, enrollment_type in checks] == ["user", "device"], \
            "one verdict per enrollment type, from the unsigned content"
        assert verifications == [] and len(signatures) == 1
        commands = db.session.scalars(select(Command).order_by(Command.device_id)).all()
        states = {s.device_id: s for s in db.session.scalars(select(ProfileState))}
        assert [c.device_id for c in commands] == sorted(devices)
        bodies = [plistlib.loads(c.payload) for c in commands]
        assert [b["CommandUUID"] for b in bodies] == [c.command_uuid for c in commands] \
            == [states[c.device_id].last_command_uuid for c in commands]
        assert len({c.command_uuid for c in commands}) == 8
        assert all(b["Command"] == bodies[0]["Command"] and b["Command"]["RequestType"] == "InstallProfile"
                   for b in bodies)
        assert cms.verify(bodies[0]["Command"]["Payload"]).content.startswith(b"<?xml")
        assert _count(PushOutbox) == 8


def test_a_forbidden_payload_is_still_refused_at_delivery_whatever_the_library_says(app, seed, upload):
    """The library refuses to scope it; were its row wrong, the capability check at queueing still refuses."""
    user_devices, legacy = seed(3, **PUSHABLE), seed(1, enrollment_type="device", **PUSHABLE)
    profile_id = upload("web-clip")
    with app.app_context():
        profile = db.session.get(Profile, profile_id)
        profile.content = (CORPUS / "full-device-vpn.mobileconfig").read_bytes()  # behind the library's back
        db.session.commit()
        _pending(profile_id, user_devices + legacy)
        assert deliver(db.session) == 4
        db.session.commit()
        states = {s.device_id: s for s in db.session.scalars(select(ProfileState))}
        for device_id in user_devices:
            assert states[device_id].status == "failed" and states[device_id].last_command_uuid is None
            assert "com.apple.vpn.managed is forbidden under User Enrollment" in states[device_id].error
        assert states[legacy[0]].status == "pending" and states[legacy[0]].last_command_uuid
        assert [c.device_id for c in db.session.scalars(select(Command))] == legacy
        assert _count(PushOutbox) == 1, "no push for a device that got no command"


def _people(device_ids):
    """A person per device (their e-mail fills $EMAIL): half linked by user id, half by Managed Apple ID only."""
    from portal.models import Device, EndUser

    linked = {}
    for index, device in enumerate(db.session.scalars(select(Device).where(Device.id.in_(device_ids)))):
        user = EndUser(issuer="https://idp.example.org", subject=f"s-{device.id}", managed_apple_id=device.managed_apple_id,
                       email=f"mail-{device.id}@example.org")
        db.session.add(user)
        if index % 2:
            device.user = user
            linked[device.id] = user.email
    db.session.commit()
    return linked


@pytest.mark.parametrize("profile", ["wifi-wpa2", "exchange"])
def test_delivery_runs_as_many_statements_for_forty_devices_as_for_four(app, seed, upload, profile):
    statements = []
    profile_id = upload(profile)
    for count in (2, 4, 40):  # the first makes the signing identity
        devices = seed(count, **PUSHABLE)
        with app.app_context():
            linked = _people(devices)
            _pending(profile_id, devices)
            with counted_statements() as ran:
                assert deliver(db.session, device_ids=devices) == count
                db.session.commit()
            statements.append(len(ran))
            assert _count(Command, Command.device_id.in_(devices)) == count
            if profile == "exchange":
                for command in db.session.scalars(select(Command).where(Command.device_id.in_(linked))):
                    sent = plistlib.loads(cms.verify(plistlib.loads(command.payload)["Command"]["Payload"]).content)
                    assert sent["PayloadContent"][0]["EmailAddress"] == linked[command.device_id]
    assert statements[1] == statements[2], statements


def test_a_bulk_command_runs_as_many_statements_for_forty_devices_as_for_four(app, api, seed):
    statements = []
    for count in (2, 4, 40):
        devices = seed(count, **PUSHABLE)
        with app.app_context(), counted_statements() as ran:
            response = api("POST", "/commands/bulk", json={"request_type": "ProfileList", "device_ids": devices})
        assert response.status_code == 201 and response.json["queued"] == count
        statements.append(len(ran))
    assert statements[1] == statements[2], statements


def test_pushes_for_a_batch_are_one_upsert_per_chunk_and_coalesce(app, seed, monkeypatch):
    monkeypatch.setattr(outbox, "CHUNK", 2)
    pushable = seed(3, **PUSHABLE)
    dead = seed(1, push_token_dead_at=utcnow(), **PUSHABLE)
    silent = seed(1)
    with app.app_context():
        from portal.models import Device

        devices = db.session.scalars(select(Device).where(Device.id.in_(pushable + dead + silent))
                                     .order_by(Device.id)).all()
        assert devices[0].id == pushable[0]
        assert outbox.request_pushes(devices + devices[:1]) == 3
        assert outbox.request_pushes(devices[:1]) == 1
        assert db.session.scalar(select(PushOutbox.id)) is None, "written as the transaction commits"
        db.session.commit()
        rows = dict(db.session.execute(select(PushOutbox.device_id, PushOutbox.generation)).all())
        assert rows == {pushable[0]: 1, pushable[1]: 1, pushable[2]: 1}, "one push per device a transaction"
        assert outbox.request_pushes(devices[:1]) == 1
        db.session.commit()
        rows = dict(db.session.execute(select(PushOutbox.device_id, PushOutbox.generation)).all())
        assert rows == {pushable[0]: 2, pushable[1]: 1, pushable[2]: 1}, "a pending push coalesces a new request"
        assert outbox.request_pushes(devices[:2]) == 2
        db.session.rollback()
        db.session.commit()
        assert dict(db.session.execute(select(PushOutbox.device_id, PushOutbox.generation)).all()) == rows, \
            "a rolled-back transaction's pushes are forgotten"


def test_pushes_wait_for_the_transactions_commit_through_its_savepoints(app, seed):
    """A savepoint's release is not the commit (the rows would be locked early), and its rollback does not drop
    what the enclosing transaction asked for."""
    first, second = seed(2, **PUSHABLE)
    with app.app_context():
        from portal.models import Device

        devices = {device.id: device for device in db.session.scalars(select(Device))}
        outbox.request_pushes([devices[first]])
        with db.session.begin_nested():
            outbox.request_pushes([devices[second]])
        assert db.session.scalar(select(PushOutbox.id)) is None, "a savepoint's release writes none"
        try:
            with db.session.begin_nested():
                raise RuntimeError("the savepoint rolls back")
        except RuntimeError:
            pass
        db.session.commit()
        assert sorted(db.session.scalars(select(PushOutbox.device_id))) == sorted([first, second])
