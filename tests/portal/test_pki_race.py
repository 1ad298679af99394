"""Two web nodes creating the device CA at once: the loser uses the winner's, and keeps its own work."""
import pytest

from portal.extensions import db
from portal.models import PkiIdentity, Setting
from portal.pki import PLACEHOLDER_TOPIC_KEY, device_ca, forget_cached_identities, push_topic


@pytest.fixture
def lose_the_race(monkeypatch):
    """Make the first look-up of ``model`` (with ``only_key``) miss, as if another node inserted it just after."""

    def arm(model, only_key=None):
        real_get = db.session.get
        missed = []

        def get(wanted, key, *args, **kwargs):
            if wanted is model and not missed and only_key in (None, key):
                missed.append(key)
                return None
            return real_get(wanted, key, *args, **kwargs)

        monkeypatch.setattr(db.session, "get", get)
        return missed

    return arm


def test_losing_the_race_to_create_the_ca_uses_theirs_and_keeps_the_callers_work(app_ctx, lose_the_race):
    theirs = device_ca()
    forget_cached_identities()
    db.session.add(Setting(key="callers_work", value="kept"))
    db.session.flush()
    missed = lose_the_race(PkiIdentity)
    assert device_ca().certificate == theirs.certificate
    assert missed, "the race was simulated"
    db.session.commit()
    assert db.session.get(Setting, "callers_work").value == "kept"


def test_losing_the_race_to_create_the_placeholder_topic_keeps_the_callers_work(app_ctx, lose_the_race):
    theirs, _ = push_topic()
    db.session.add(Setting(key="callers_work", value="kept"))
    db.session.flush()
    missed = lose_the_race(Setting, PLACEHOLDER_TOPIC_KEY)
    assert push_topic() == (theirs, True)
    assert missed == [PLACEHOLDER_TOPIC_KEY]
    db.session.commit()
    assert db.session.get(Setting, "callers_work").value == "kept"
