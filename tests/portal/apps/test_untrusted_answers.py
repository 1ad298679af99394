"""What Apple's service and the devices send is bounded before it is stored: an asset with an unusable
App Store ID or pricing parameter is skipped, and a device's overlong or garbled bundle ID is not kept."""
import pytest
from sqlalchemy import insert, select

from mdm_core import queue
from mdm_core.vpp.client import MAX_COUNT, Asset
from portal.apps import results
from portal.apps.catalogue import sync_assets
from portal.extensions import db
from portal.models import App, AppState
from portal.models.base import utcnow


def _asset(adam_id, pricing_param="STDQ", **counts):
    return Asset.from_json({"adamId": adam_id, "pricingParam": pricing_param, **counts})


def test_assets_with_unusable_ids_are_skipped_and_counts_fit_their_columns(app):
    app.config["ITUNES_LOOKUP_URL"] = None
    with app.app_context():
        assets = [_asset("361309726", totalCount=2 ** 70, availableCount=2 ** 70), _asset(""), _asset("12a"),
                  _asset("1" * 41), _asset("\u0663\u0664"), _asset("42", "x" * 11), _asset("43", "ST\x00Q")]
        assert sync_assets(db.session, assets) == 1
        db.session.commit()
        [stored] = db.session.scalars(select(App)).all()
        assert (stored.adam_id, stored.licenses_total, stored.licenses_available) == ("361309726", MAX_COUNT,
                                                                                      MAX_COUNT)


@pytest.mark.parametrize("reported, kept", [("com.example.notes", "com.example.notes"),
                                            ("c" * 256, "com.example.fieldnotes"),
                                            ("com.example\u0000notes", "com.example.fieldnotes"),
                                            (["com.example.notes"], "com.example.fieldnotes")])
def test_a_devices_bundle_id_is_kept_only_when_it_fits(app, seed, reported, kept):
    [device_id] = seed(1)
    with app.app_context():
        entry = App(source="manifest", manifest_url="https://apps.example.org/m.plist",
                    bundle_id="com.example.fieldnotes")
        db.session.add(entry)
        db.session.flush()
        db.session.execute(insert(AppState).values(app_id=entry.id, device_id=device_id, operation="install",
                                                   status="pending", last_command_uuid="C-1", attempts=0,
                                                   updated_at=utcnow()))
        results.record(db.session.connection(), device_id, "InstallApplication", "C-1", queue.ACKNOWLEDGED, None,
                       {"Identifier": reported, "State": "Managed"}, utcnow())
        db.session.commit()
        assert db.session.scalar(select(AppState.identifier)) == kept
