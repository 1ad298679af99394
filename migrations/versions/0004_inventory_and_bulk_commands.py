"""inventory: device facts, managed apps, profiles, certificates, change history; bulk commands

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 11:19:56.975948

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


DEVICE_SEARCH = ('managed_apple_id', 'model', 'model_name', 'product_name', 'os_version', 'device_name')
USER_SEARCH = ('name', 'email')


def _trigram_indexes(table, columns):
    """GIN trigram indexes on PostgreSQL (substring search), plain ones elsewhere; as in the models."""
    for column in columns:
        op.create_index(f'ix_{table}_trgm_{column}', table, [column], unique=False, postgresql_using='gin',
                        postgresql_ops={column: 'gin_trgm_ops'})


def upgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
    _trigram_indexes('devices', DEVICE_SEARCH)
    _trigram_indexes('end_users', USER_SEARCH)
    op.create_table('bulk_commands',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('request_type', sa.String(length=80), nullable=False),
    sa.Column('created_by', sa.String(length=320), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('queued', sa.Integer(), nullable=False),
    sa.Column('refused', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bulk_commands'))
    )
    op.create_table('device_apps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('identifier', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('version', sa.String(length=255), nullable=True),
    sa.Column('short_version', sa.String(length=255), nullable=True),
    sa.Column('status', sa.String(length=255), nullable=True),
    sa.Column('bundle_size', sa.BigInteger(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_device_apps_device_id_devices'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_apps')),
    sa.UniqueConstraint('device_id', 'identifier', name=op.f('uq_device_apps_device_id'))
    )
    op.create_table('device_certificates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('common_name', sa.String(length=255), nullable=True),
    sa.Column('is_identity', sa.Boolean(), nullable=False),
    sa.Column('not_after', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_device_certificates_device_id_devices'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_certificates')),
    sa.UniqueConstraint('device_id', 'fingerprint', name=op.f('uq_device_certificates_device_id'))
    )
    op.create_table('device_inventories',
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('facts', sa.JSON(), nullable=False),
    sa.Column('security', sa.JSON(), nullable=False),
    sa.Column('facts_updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('security_updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_device_inventories_device_id_devices'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('device_id', name=op.f('pk_device_inventories'))
    )
    op.create_table('device_profiles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('identifier', sa.String(length=255), nullable=False),
    sa.Column('display_name', sa.String(length=255), nullable=True),
    sa.Column('organization', sa.String(length=255), nullable=True),
    sa.Column('uuid', sa.String(length=255), nullable=True),
    sa.Column('version', sa.Integer(), nullable=True),
    sa.Column('is_managed', sa.Boolean(), nullable=False),
    sa.Column('payload_types', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_device_profiles_device_id_devices'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_profiles')),
    sa.UniqueConstraint('device_id', 'identifier', name=op.f('uq_device_profiles_device_id'))
    )
    op.create_table('inventory_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('old', sa.JSON(), nullable=True),
    sa.Column('new', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_inventory_changes_device_id_devices'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inventory_changes'))
    )
    with op.batch_alter_table('inventory_changes', schema=None) as batch_op:
        batch_op.create_index('ix_inventory_changes_device_at', ['device_id', 'at'], unique=False)

    with op.batch_alter_table('commands', schema=None) as batch_op:
        batch_op.add_column(sa.Column('bulk_id', sa.String(length=36), nullable=True))
        batch_op.create_index('ix_commands_bulk_id_status', ['bulk_id', 'status'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_commands_bulk_id_bulk_commands'), 'bulk_commands', ['bulk_id'], ['id'], ondelete='SET NULL')

    op.execute("UPDATE devices SET last_seen_at = created_at WHERE last_seen_at IS NULL")
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.alter_column('last_seen_at', existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.drop_index('ix_devices_last_seen_at')
        batch_op.create_index('ix_devices_last_seen_id', ['last_seen_at', 'id'], unique=False)
        batch_op.add_column(sa.Column('inventory_requested_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_devices_inventory_requested_at'), ['inventory_requested_at'], unique=False)
        batch_op.create_index('ix_devices_model_id', ['model', 'id'], unique=False)
        batch_op.create_index('ix_devices_os_version_id', ['os_version', 'id'], unique=False)
        batch_op.create_index('ix_devices_type_method', ['enrollment_type', 'enrollment_method'], unique=False)



def downgrade():
    for table, columns in (('devices', DEVICE_SEARCH), ('end_users', USER_SEARCH)):
        for column in columns:
            op.drop_index(f'ix_{table}_trgm_{column}', table_name=table)
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.drop_index('ix_devices_type_method')
        batch_op.drop_index('ix_devices_os_version_id')
        batch_op.drop_index('ix_devices_model_id')
        batch_op.drop_index(batch_op.f('ix_devices_inventory_requested_at'))
        batch_op.drop_column('inventory_requested_at')
        batch_op.drop_index('ix_devices_last_seen_id')
        batch_op.create_index('ix_devices_last_seen_at', ['last_seen_at'], unique=False)
        batch_op.alter_column('last_seen_at', existing_type=sa.DateTime(timezone=True), nullable=True)

    with op.batch_alter_table('commands', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_commands_bulk_id_bulk_commands'), type_='foreignkey')
        batch_op.drop_index('ix_commands_bulk_id_status')
        batch_op.drop_column('bulk_id')

    with op.batch_alter_table('inventory_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_inventory_changes_device_at')

    op.drop_table('inventory_changes')
    op.drop_table('device_profiles')
    op.drop_table('device_inventories')
    op.drop_table('device_certificates')
    op.drop_table('device_apps')
    op.drop_table('bulk_commands')
