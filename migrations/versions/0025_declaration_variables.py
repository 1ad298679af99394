"""ddm: a declaration keeps the names of the variables it is filled in with (``declarations.variables``, sorted and
space-separated) instead of whether it has any, so a device's server token of it moves only when one of those
values changes (a person's new name no longer makes every device fetch an asset filled in with their e-mail);
the devices holding one whose token so changes synced again

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 12:00:00.000000

"""
import re

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None

#: ``mdm_core.profile_variables`` as this revision found it: before 0025 a device's token hashed all five values.
_VARIABLES = ("MANAGED_APPLE_ID", "EMAIL", "FULL_NAME", "USERNAME", "ENROLLMENT_ID")
_ALL = " ".join(sorted(_VARIABLES))
_TOKEN = re.compile(r"\$(\$|[A-Z_][A-Z0-9_]*)")
_declarations = sa.table('declarations', sa.column('id', sa.Integer()), sa.column('payload', sa.JSON()),
                         sa.column('has_variables', sa.Boolean()), sa.column('variables', sa.String()),
                         sa.column('credential_sealed', sa.Text()))
_assignments = sa.table('declaration_assignments', sa.column('device_id', sa.Integer()),
                        sa.column('declaration_id', sa.Integer()))
_enrollments = sa.table('ddm_enrollments', sa.column('device_id', sa.Integer()), sa.column('stale', sa.Boolean()))


def _used(value):
    """The known variables of the string values in a payload, at any depth (keys are Apple's names)."""
    if isinstance(value, str):
        return {name for name in _TOKEN.findall(value) if name in _VARIABLES} if "$" in value else set()
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return set().union(*map(_used, children))


def _resync(declaration_ids):
    """Their devices' tokens move: the worker sends each its new DeclarationsToken."""
    if declaration_ids:
        holders = sa.select(_assignments.c.device_id).where(_assignments.c.declaration_id.in_(declaration_ids))
        op.get_bind().execute(_enrollments.update().where(_enrollments.c.device_id.in_(holders)).values(stale=True))


def upgrade():
    op.add_column('declarations', sa.Column('variables', sa.String(length=64), nullable=False, server_default=''))
    bind = op.get_bind()
    narrowed = []
    rows = bind.execute(sa.select(_declarations.c.id, _declarations.c.payload, _declarations.c.credential_sealed)
                        .where(_declarations.c.has_variables.is_(True))).all()
    for row in rows:
        # a sealed credential is not opened here: its device tokens stay those of all five values until it is saved
        names = _ALL if row.credential_sealed is not None else " ".join(sorted(_used(row.payload)))
        bind.execute(_declarations.update().where(_declarations.c.id == row.id).values(variables=names))
        if names != _ALL:
            narrowed.append(row.id)
    _resync(narrowed)
    with op.batch_alter_table('declarations', schema=None) as batch_op:
        batch_op.drop_column('has_variables')


def downgrade():
    op.add_column('declarations', sa.Column('has_variables', sa.Boolean(), nullable=False, server_default=sa.false()))
    bind = op.get_bind()
    bind.execute(_declarations.update().where(_declarations.c.variables != '').values(has_variables=True))
    narrowed = bind.execute(sa.select(_declarations.c.id).where(_declarations.c.variables != '',
                                                                _declarations.c.variables != _ALL)).scalars().all()
    _resync(list(narrowed))
    with op.batch_alter_table('declarations', schema=None) as batch_op:
        batch_op.drop_column('variables')
