"""inventory: app states an app.managed.list status report stored before 2b9fd56 in its own words (``managed``,
``managed-but-uninstalled``; any ASCII text a phone sent) read as ManagedApplicationList's (``Managed``,
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
_BATCH = 1000


def _words(state: str) -> str:
    """``mdm_core.ddm.status_lists._state`` as this revision found it (the same for a state in those words)."""
    return "".join(word[:1].upper() + word[1:] for word in state.split("-"))[:_STATUS_LENGTH]


def upgrade():
    apps = sa.table('device_apps', sa.column('id', sa.Integer), sa.column('status_identifier', sa.String),
                    sa.column('status', sa.String))
    first = sa.func.substr(apps.c.status, 1, 1)
    # the rows a status report wrote (a command's answer is in those words already) that _words may change (exact
    # for ASCII, as every state Apple lists is), a thousand at a time by key, then one UPDATE by key for each
    worded = (sa.select(apps.c.id, apps.c.status)
              .where(apps.c.status_identifier.isnot(None), apps.c.id > sa.bindparam('after'),
                     sa.or_(apps.c.status.like('%-%'), first != sa.func.upper(first)))
              .order_by(apps.c.id).limit(_BATCH))
    update = apps.update().where(apps.c.id == sa.bindparam('row')).values(status=sa.bindparam('worded'))
    connection, after = op.get_bind(), 0
    while batch := connection.execute(worded, {'after': after}).all():
        changed = [{'row': row, 'worded': _words(state)} for row, state in batch if _words(state) != state]
        if changed:
            connection.execute(update, changed)
        after = batch[-1][0]


def downgrade():
    pass  # the code before this revision reads either form
