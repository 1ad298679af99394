"""inventory: the accounts a declaration installed, as a DDM status report lists them (account.list.*); each DDM
enrollment's digest of the lists PostgreSQL last wrote from its status reports (``unknown`` where 0020's code
wrote some), so a list reported again unchanged is not written again

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 23:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None
_KINDS = ('apps', 'certificates', 'accounts')


def upgrade():
    op.create_table('device_accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('identifier', sa.String(length=255), nullable=False),
    sa.Column('account_type', sa.String(length=40), nullable=False),
    sa.Column('declaration_identifier', sa.String(length=255), nullable=False),
    sa.Column('visible_name', sa.String(length=255), nullable=True),
    sa.Column('hostname', sa.String(length=255), nullable=True),
    sa.Column('port', sa.Integer(), nullable=True),
    sa.Column('username', sa.String(length=255), nullable=True),
    sa.Column('status_identifier', sa.String(length=255), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_device_accounts_device_id_devices'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_accounts')),
    sa.UniqueConstraint('device_id', 'identifier', name=op.f('uq_device_accounts_device_id'))
    )
    with op.batch_alter_table('ddm_enrollments') as batch:
        for kind in _KINDS:
            batch.add_column(sa.Column(f'{kind}_list_digest', sa.String(length=32), nullable=True))
    for kind, table in (('apps', 'device_apps'), ('certificates', 'device_certificates')):
        op.execute(f"UPDATE ddm_enrollments SET {kind}_list_digest = 'unknown' WHERE EXISTS (SELECT 1 FROM {table} "
                   f"WHERE {table}.device_id = ddm_enrollments.device_id AND {table}.status_identifier IS NOT NULL)")


def downgrade():
    with op.batch_alter_table('ddm_enrollments') as batch:
        for kind in _KINDS:
            batch.drop_column(f'{kind}_list_digest')
    op.drop_table('device_accounts')
