"""The worker's purge of history: challenges used or expired, and deleted profiles whose removal is done,
each only after the retention period."""
import plistlib
import uuid
from datetime import timedelta

from sqlalchemy import select

from portal.extensions import db
from portal.models import Profile, ProfileState
from portal.models.base import utcnow
from portal.models.user_identity import UserIdentityChallenge
from portal.retention import RETENTION, purge_history
from portal.worker import PERIODIC_JOBS

LONG_AGO = RETENTION + timedelta(days=1)


def _wifi(identifier: str) -> bytes:
    return plistlib.dumps({
        "PayloadType": "Configuration", "PayloadVersion": 1, "PayloadIdentifier": identifier,
        "PayloadUUID": str(uuid.uuid4()).upper(), "PayloadDisplayName": identifier,
        "PayloadContent": [{"PayloadType": "com.apple.wifi.managed", "PayloadVersion": 1,
                            "PayloadIdentifier": f"{identifier}.wifi", "PayloadUUID": str(uuid.uuid4()).upper(),
                            "SSID_STR": identifier, "EncryptionType": "WPA2", "Password": "correct horse"}]})


def test_challenges_go_a_retention_period_after_their_use_or_expiry(app, seed):
    device_id = seed(1)[0]
    now = utcnow()
    rows = {"used long ago": (now - LONG_AGO, now - LONG_AGO + timedelta(days=7)),
            "expired long ago": (None, now - LONG_AGO),
            "used yesterday": (now - timedelta(days=1), now + timedelta(days=6)),
            "unused": (None, now + timedelta(days=6)),
            "expired yesterday": (None, now - timedelta(days=1))}
    with app.app_context():
        for name, (used_at, expires_at) in rows.items():
            db.session.add(UserIdentityChallenge(device_id=device_id, profile_identifier=name, challenge_hash=name,
                                                 used_at=used_at, expires_at=expires_at))
        db.session.commit()
        assert purge_history(db.session)["challenges"] == 2
        kept = set(db.session.scalars(select(UserIdentityChallenge.profile_identifier)))
        assert kept == {"used yesterday", "unused", "expired yesterday"}


def test_a_deleted_profile_goes_once_its_removal_is_done_and_the_retention_has_passed(app, api, seed):
    device_ids = seed(2)
    ids = {}
    for name in ("done", "still-removing", "recent"):
        response = api("POST", "/profiles", data=_wifi(f"org.example.{name}"))
        ids[name] = response.get_json()["id"]
        assert api("PUT", f"/profiles/{ids[name]}/scope", json={"all_user_enrolled": True}).status_code == 200
        assert api("DELETE", f"/profiles/{ids[name]}").status_code in (200, 204)
    with app.app_context():
        for name, profile_id in ids.items():
            db.session.get(Profile, profile_id).deleted_at = utcnow() - (timedelta(days=1) if name == "recent"
                                                                         else LONG_AGO)
            db.session.execute(ProfileState.__table__.update().where(ProfileState.profile_id == profile_id)
                               .values(status="removed"))
        db.session.execute(ProfileState.__table__.update().where(
            ProfileState.profile_id == ids["still-removing"], ProfileState.device_id == device_ids[0])
            .values(status="removing"))
        db.session.commit()
        assert purge_history(db.session) == {"challenges": 0, "profiles": 1}
        assert set(db.session.scalars(select(Profile.id))) == {ids["still-removing"], ids["recent"]}
        assert set(db.session.scalars(select(ProfileState.profile_id))) == {ids["still-removing"], ids["recent"]}
    again = api("POST", "/profiles", data=_wifi("org.example.done"))
    assert again.status_code == 201 and again.get_json()["id"] not in ids.values(), "a new profile, not a revival"


def test_the_worker_purges_daily():
    assert [job.every for job in PERIODIC_JOBS if job.name == "history purge"] == [86400]
