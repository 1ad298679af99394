"""Fixtures of the push tests: the stand-in's push certificate imported, and a push worker."""
import pytest

from portal.extensions import db
from portal.push.certificate import import_push_certificate
from portal.push.worker import PushWorker
from tests.helpers import pem_of


@pytest.fixture
def push_cert(app, standin_pki, apns_standin, monkeypatch):
    """The stand-in's MDM push certificate imported, and APNS_* pointing at the stand-in."""
    pki, files = standin_pki
    monkeypatch.setitem(app.config, "APNS_ENDPOINT", apns_standin.endpoint)
    monkeypatch.setitem(app.config, "APNS_CA_BUNDLE", str(files["server_ca"]))
    with app.app_context():
        import_push_certificate(*pem_of(pki.push))
        db.session.commit()
    return pki


@pytest.fixture
def worker(app):
    worker = PushWorker(app)
    yield worker
    worker.close()
