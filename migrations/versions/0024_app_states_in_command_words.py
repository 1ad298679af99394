"""inventory: app states an app.managed.list status report stored before 2b9fd56 in its own words (``managed``,
``managed-but-uninstalled``, or whatever a phone sent) read as ManagedApplicationList's (``Managed``,
``ManagedButUninstalled``), as every report since stores them; else they stayed until the phone listed that app
again

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 06:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None
_STATUS_LENGTH = 255


def _words(state: str) -> str:
    """``mdm_core.ddm.status_lists._state`` as this revision found it (the same for a state in those words)."""
    return "".join(word[:1].upper() + word[1:] for word in state.split("-"))[:_STATUS_LENGTH]


def upgrade():
    identifier, status = sa.column('status_identifier', sa.String), sa.column('status', sa.String)
    apps = sa.table('device_apps', identifier, status)
    reported = apps.c.status_identifier.isnot(None)  # a command's answer is in those words already
    connection = op.get_bind()
    for (state,) in connection.execute(sa.select(status).where(reported, status.isnot(None)).distinct()).all():
        if _words(state) != state:
            connection.execute(apps.update().where(reported, status == state).values(status=_words(state)))


def downgrade():
    pass  # the code before this revision reads either form
