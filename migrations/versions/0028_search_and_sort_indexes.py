"""indexes for the audit log's filters: ``action`` prefixes (``command.``) on PostgreSQL through an operator class
that compares bytes (a plain btree only serves LIKE under the C collation; SQLite keeps its plain index), ``actor``
compared case-insensitively (``lower(actor)``), ``actor_type``, and a target (``target_type``, ``target_id``), each
with ``id`` after it so the newest events of one filter come in index order; and the device list's sorts on
``os_version``, ``model`` and ``managed_apple_id``, which sort on ``coalesce(column, '')`` (NULL as '', so keysets
compare on every backend): an index on (that expression, ``id``) each, replacing the plain (``os_version``, ``id``)
and (``model``, ``id``) indexes that no sort could use

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07 22:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0028'
down_revision = '0027'
branch_labels = None
depends_on = None

_SORTED = ('managed_apple_id', 'os_version', 'model')


def _postgresql() -> bool:
    return op.get_bind().dialect.name == 'postgresql'


def upgrade():
    if _postgresql():
        op.drop_index('ix_audit_events_action', table_name='audit_events')
        op.create_index('ix_audit_events_action', 'audit_events', ['action'],
                        postgresql_ops={'action': 'varchar_pattern_ops'})
    op.create_index('ix_audit_events_actor_lower', 'audit_events', [sa.text('lower(actor)'), 'id'])
    op.create_index('ix_audit_events_actor_type', 'audit_events', ['actor_type', 'id'])
    op.create_index('ix_audit_events_target', 'audit_events', ['target_type', 'target_id', 'id'])
    op.drop_index('ix_devices_os_version_id', table_name='devices')
    op.drop_index('ix_devices_model_id', table_name='devices')
    for column in _SORTED:
        op.create_index(f'ix_devices_{column}_sort', 'devices', [sa.text(f"coalesce({column}, '')"), 'id'])


def downgrade():
    for column in _SORTED:
        op.drop_index(f'ix_devices_{column}_sort', table_name='devices')
    op.create_index('ix_devices_model_id', 'devices', ['model', 'id'])
    op.create_index('ix_devices_os_version_id', 'devices', ['os_version', 'id'])
    op.drop_index('ix_audit_events_target', table_name='audit_events')
    op.drop_index('ix_audit_events_actor_type', table_name='audit_events')
    op.drop_index('ix_audit_events_actor_lower', table_name='audit_events')
    if _postgresql():
        op.drop_index('ix_audit_events_action', table_name='audit_events')
        op.create_index('ix_audit_events_action', 'audit_events', ['action'])
