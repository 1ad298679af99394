"""The pin rule's two forms agree: the SQL form (one statement stamps the device only for a request
that passes) and the Python form (which says why a request was refused), over the same cases."""
import itertools

import pytest
from sqlalchemy import select

from mdm_core.account_driven import hash_access_token
from portal.extensions import db
from portal.mdm.pinning import proven, refusal
from portal.mdm.refusals import Refusal
from portal.mdm.statements import DeviceRow
from portal.models import Device

FINGERPRINT, TOKEN = "a" * 64, "the-enrollment's-token"
STORED = list(itertools.product(
    (FINGERPRINT, "b" * 64),  # the pinned certificate: the request's, another
    ("pending", "enrolled", "unenrolled"),
    (None, hash_access_token(TOKEN)),  # a profile-driven enrollment, an account-driven one
))
REQUEST_TOKENS = (None, TOKEN, "another-token")


def _expected(fingerprint, status, token_hash, token):
    if fingerprint != FINGERPRINT:
        return Refusal.CERTIFICATE_MISMATCH
    if status == "unenrolled":
        return Refusal.REMOVED
    if token_hash is not None and token != TOKEN:
        return Refusal.ACCESS_TOKEN
    return None


@pytest.fixture
def devices(app, seed):
    """The stored cases, by device id."""
    columns = ("certificate_fingerprint", "status", "access_token_hash")
    return {seed(1, **dict(zip(columns, case)))[0]: case for case in STORED}


@pytest.mark.parametrize("token", REQUEST_TOKENS)
def test_the_sql_and_python_forms_agree(app, devices, token):
    table = Device.__table__
    with app.app_context():
        passes = dict(db.session.execute(
            select(table.c.id, proven(table)).where(table.c.id.in_(devices)),
            {"fingerprint": FINGERPRINT, "token_hash": None if token is None else hash_access_token(token)}).all())
        rows = db.session.execute(select(*(table.c[name] for name in DeviceRow._fields))
                                  .where(table.c.id.in_(devices))).all()
        orm = {device.id: device for device in db.session.scalars(select(Device).where(Device.id.in_(devices)))}
        for row in rows:
            python_form = refusal(DeviceRow(*row), FINGERPRINT, token)
            assert python_form == _expected(*devices[row.id], token), devices[row.id]
            assert bool(passes[row.id]) is (python_form is None), devices[row.id]
            assert refusal(orm[row.id], FINGERPRINT, token) == python_form, "the check-in's ORM device alike"


def test_an_enrollment_that_is_not_stored_is_unknown():
    assert refusal(None, FINGERPRINT, TOKEN) is Refusal.UNKNOWN_ENROLLMENT
