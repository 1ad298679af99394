"""What a visitor does on the employee pages is never recorded as an admin's act. A browser that also
holds an admin's console session (an admin trying enrollment on their own phone, where the sign-in sheet
shares Safari's cookies) had failed employee sign-ins written to the audit log as that admin's actions."""
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent


def test_a_failed_employee_sign_in_is_not_the_admins_act(app, admin_client):
    response = admin_client.get("/auth/callback?state=x&code=y")  # no sign-in started in this browser
    assert response.status_code == 400
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "end_user.sign_in_failed"))
        assert event is not None
        assert (event.actor_type, event.actor) != ("admin", "admin@example.org"), \
            "the audit log says the admin failed an employee sign-in"
