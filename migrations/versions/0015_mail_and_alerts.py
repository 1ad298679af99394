"""mail: each person's language, the mail outbox and templates, migration notices and admin alerts

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 05:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('admin_alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('message', sa.String(length=500), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('raised_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('dismissed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('dismissed_by', sa.String(length=320), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_admin_alerts')),
    sa.UniqueConstraint('key', name=op.f('uq_admin_alerts_key'))
    )
    with op.batch_alter_table('admin_alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_admin_alerts_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_admin_alerts_raised_at'), ['raised_at'], unique=False)

    op.create_table('mail_outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('dedupe_key', sa.String(length=200), nullable=True),
    sa.Column('message_id', sa.String(length=255), nullable=False),
    sa.Column('to_address', sa.String(length=320), nullable=False),
    sa.Column('to_name', sa.String(length=255), nullable=True),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('subject', sa.String(length=500), nullable=False),
    sa.Column('text_body', sa.Text(), nullable=False),
    sa.Column('html_body', sa.Text(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=300), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('failed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_outbox')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_mail_outbox_dedupe_key')),
    sa.UniqueConstraint('message_id', name=op.f('uq_mail_outbox_message_id'))
    )
    with op.batch_alter_table('mail_outbox', schema=None) as batch_op:
        batch_op.create_index('ix_mail_outbox_due', ['sent_at', 'failed_at', 'next_attempt_at'], unique=False)

    op.create_table('mail_templates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('subject', sa.String(length=500), nullable=False),
    sa.Column('text_body', sa.Text(), nullable=False),
    sa.Column('html_body', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=320), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_templates')),
    sa.UniqueConstraint('kind', 'language', name=op.f('uq_mail_templates_kind'))
    )
    op.create_table('alert_opt_outs',
    sa.Column('admin_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['admin_id'], ['admins.id'], name=op.f('fk_alert_opt_outs_admin_id_admins'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('admin_id', 'kind', name=op.f('pk_alert_opt_outs'))
    )
    op.create_table('legacy_imports',
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('serial_number', sa.String(length=40), nullable=False),
    sa.Column('batch_id', sa.String(length=36), nullable=False),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('imported_by', sa.String(length=320), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_legacy_imports_device_id_devices'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('device_id', name=op.f('pk_legacy_imports'))
    )
    with op.batch_alter_table('legacy_imports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_legacy_imports_batch_id'), ['batch_id'], unique=False)

    op.create_table('migration_notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('outbox_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=320), nullable=True),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_migration_notices_device_id_devices'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['outbox_id'], ['mail_outbox.id'], name=op.f('fk_migration_notices_outbox_id_mail_outbox'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_migration_notices')),
    sa.UniqueConstraint('device_id', 'kind', name=op.f('uq_migration_notices_device_id'))
    )
    with op.batch_alter_table('migration_notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_migration_notices_device_id'), ['device_id'], unique=False)
    with op.batch_alter_table('end_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=8), nullable=True))


def downgrade():
    with op.batch_alter_table('end_users', schema=None) as batch_op:
        batch_op.drop_column('language')
    with op.batch_alter_table('migration_notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_migration_notices_device_id'))

    op.drop_table('migration_notices')
    with op.batch_alter_table('legacy_imports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_legacy_imports_batch_id'))

    op.drop_table('legacy_imports')
    op.drop_table('alert_opt_outs')
    op.drop_table('mail_templates')
    with op.batch_alter_table('mail_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_mail_outbox_due')

    op.drop_table('mail_outbox')
    with op.batch_alter_table('admin_alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_admin_alerts_raised_at'))
        batch_op.drop_index(batch_op.f('ix_admin_alerts_kind'))

    op.drop_table('admin_alerts')
