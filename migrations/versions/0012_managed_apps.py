"""managed apps: the content token, the catalogue, licenses per person, app states per device

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 05:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('app_users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('managed_apple_id', sa.String(length=320), nullable=False),
    sa.Column('client_user_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_app_users')),
    sa.UniqueConstraint('client_user_id', name=op.f('uq_app_users_client_user_id')),
    sa.UniqueConstraint('managed_apple_id', name=op.f('uq_app_users_managed_apple_id'))
    )
    op.create_table('vpp_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sealed_token', sa.LargeBinary(), nullable=False),
    sa.Column('organization', sa.String(length=255), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('uploaded_by', sa.String(length=320), nullable=True),
    sa.Column('location_name', sa.String(length=255), nullable=True),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('other_server', sa.Text(), nullable=True),
    sa.Column('expired_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_sync_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('not_before', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vpp_tokens'))
    )
    op.create_table('apps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('adam_id', sa.String(length=40), nullable=True),
    sa.Column('pricing_param', sa.String(length=10), nullable=True),
    sa.Column('manifest_url', sa.String(length=2000), nullable=True),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('bundle_id', sa.String(length=255), nullable=True),
    sa.Column('icon_url', sa.String(length=2000), nullable=True),
    sa.Column('licenses_total', sa.Integer(), nullable=False),
    sa.Column('licenses_assigned', sa.Integer(), nullable=False),
    sa.Column('licenses_available', sa.Integer(), nullable=False),
    sa.Column('device_assignable', sa.Boolean(), nullable=False),
    sa.Column('configuration', sa.LargeBinary(), nullable=True),
    sa.Column('configuration_revision', sa.String(length=64), nullable=True),
    sa.Column('vpn_profile_id', sa.Integer(), nullable=True),
    sa.Column('vpn_uuid', sa.String(length=255), nullable=True),
    sa.Column('remove_on_unenroll', sa.Boolean(), nullable=False),
    sa.Column('in_service', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=320), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=320), nullable=True),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['vpn_profile_id'], ['profiles.id'], name=op.f('fk_apps_vpn_profile_id_profiles'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_apps')),
    sa.UniqueConstraint('adam_id', name=op.f('uq_apps_adam_id'))
    )
    op.create_table('app_licenses',
    sa.Column('app_id', sa.Integer(), nullable=False),
    sa.Column('app_user_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_app_licenses_app_id_apps'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_user_id'], ['app_users.id'], name=op.f('fk_app_licenses_app_user_id_app_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('app_id', 'app_user_id', name=op.f('pk_app_licenses'))
    )
    with op.batch_alter_table('app_licenses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_app_licenses_app_user_id'), ['app_user_id'], unique=False)
        batch_op.create_index('ix_app_licenses_status', ['status'], unique=False)

    op.create_table('app_states',
    sa.Column('app_id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('operation', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('configuration_revision', sa.String(length=64), nullable=True),
    sa.Column('identifier', sa.String(length=255), nullable=True),
    sa.Column('last_command_uuid', sa.String(length=64), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('error_chain', sa.JSON(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_app_states_app_id_apps'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_app_states_device_id_devices'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('app_id', 'device_id', name=op.f('pk_app_states'))
    )
    with op.batch_alter_table('app_states', schema=None) as batch_op:
        batch_op.create_index('ix_app_states_app_status', ['app_id', 'status'], unique=False)
        batch_op.create_index('ix_app_states_device_command', ['device_id', 'last_command_uuid'], unique=False)
        batch_op.create_index('ix_app_states_status_next', ['status', 'next_attempt_at'], unique=False)



def downgrade():
    with op.batch_alter_table('app_states', schema=None) as batch_op:
        batch_op.drop_index('ix_app_states_status_next')
        batch_op.drop_index('ix_app_states_device_command')
        batch_op.drop_index('ix_app_states_app_status')

    op.drop_table('app_states')
    with op.batch_alter_table('app_licenses', schema=None) as batch_op:
        batch_op.drop_index('ix_app_licenses_status')
        batch_op.drop_index(batch_op.f('ix_app_licenses_app_user_id'))

    op.drop_table('app_licenses')
    op.drop_table('apps')
    op.drop_table('vpp_tokens')
    op.drop_table('app_users')
