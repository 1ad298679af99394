"""DDM answers stored serialized: each device's tokens, manifest and activation, and a declaration's JSON

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 09:00:00.000000

"""
import json

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

_DEVICE_COLUMNS = ('tokens_document', 'manifest_document', 'activation_document')


def upgrade():
    with op.batch_alter_table('declarations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('document', sa.Text(), nullable=True))
    with op.batch_alter_table('ddm_enrollments', schema=None) as batch_op:
        for name in _DEVICE_COLUMNS:
            batch_op.add_column(sa.Column(name, sa.Text(), nullable=True))
    # The worker's next sync writes every device's documents; until then the endpoints compute them.
    op.execute("UPDATE ddm_enrollments SET stale = true")
    declarations = sa.table('declarations', sa.column('id', sa.Integer()), sa.column('type', sa.String()),
                            sa.column('identifier', sa.String()), sa.column('server_token', sa.String()),
                            sa.column('payload', sa.JSON()), sa.column('has_variables', sa.Boolean()),
                            sa.column('profile_id', sa.Integer()), sa.column('asset_data', sa.LargeBinary()),
                            sa.column('document', sa.Text()))
    bind = op.get_bind()
    shared = sa.select(declarations.c.id, declarations.c.type, declarations.c.identifier, declarations.c.server_token,
                       declarations.c.payload).where(declarations.c.has_variables.is_(False),
                                                     declarations.c.profile_id.is_(None),
                                                     declarations.c.asset_data.is_(None))
    for row in bind.execute(shared).all():  # as portal.declarations.documents.shared_document writes it
        document = json.dumps({"Type": row.type, "Identifier": row.identifier, "ServerToken": row.server_token,
                               "Payload": row.payload}, separators=(",", ":"))
        bind.execute(declarations.update().where(declarations.c.id == row.id).values(document=document))


def downgrade():
    with op.batch_alter_table('ddm_enrollments', schema=None) as batch_op:
        for name in reversed(_DEVICE_COLUMNS):
            batch_op.drop_column(name)
    with op.batch_alter_table('declarations', schema=None) as batch_op:
        batch_op.drop_column('document')
