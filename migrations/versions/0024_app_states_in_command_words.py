"""inventory: app states an app.managed.list status report stored before 2b9fd56 in its own words (``managed``,
``managed-but-uninstalled``) read as ManagedApplicationList's (``Managed``, ``ManagedButUninstalled``), as
every report since stores them; else they stayed until the phone listed that app again

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
#: app.managed.list's ``state`` rangelist (Apple's schema), as this revision found it.
_STATES = ('optional', 'queued', 'prompting-for-consent', 'prompting-for-login', 'prompting-for-management',
           'downloading', 'installing', 'managed', 'managed-but-uninstalled', 'failed')


def _words(state: str) -> str:
    return "".join(word[:1].upper() + word[1:] for word in state.split("-"))


def upgrade():
    status = sa.column('status', sa.String)
    apps = sa.table('device_apps', status)
    op.execute(apps.update().where(status.in_(_STATES))
               .values(status=sa.case({state: _words(state) for state in _STATES}, value=status)))


def downgrade():
    pass  # the code before this revision reads either form
