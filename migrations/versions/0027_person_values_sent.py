"""profiles and app configurations filled in with a person's values are sent again when a value they use changes:
each profile keeps the names of the variables it uses (``profiles.variables``), each device's row the digest of the
values its copy was filled in with (``profile_states.filled_with``, ``app_states.filled_with``; NULL for what went
out before this revision, which is sent again at the person's next change), and a legacy-profile declaration's
variables include its profile's, so its per-device server token moves with them (the devices holding one whose
token so moves synced again)

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07 15:00:00.000000

"""
import re

from alembic import op
import sqlalchemy as sa

# Decoding a stored profile (signed or not, XML or binary) is mdm_core.mobileconfig's job, too large to copy here;
# what it decodes is what was stored through it. The variables' rule is copied as this revision found it.
from mdm_core import mobileconfig


# revision identifiers, used by Alembic.
revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None

_VARIABLES = ("MANAGED_APPLE_ID", "EMAIL", "FULL_NAME", "USERNAME", "ENROLLMENT_ID")
_TOKEN = re.compile(r"\$(\$|[A-Z_][A-Z0-9_]*)")
_profiles = sa.table('profiles', sa.column('id', sa.Integer()), sa.column('content', sa.LargeBinary()),
                     sa.column('variables', sa.String()))
_declarations = sa.table('declarations', sa.column('id', sa.Integer()), sa.column('payload', sa.JSON()),
                         sa.column('variables', sa.String()), sa.column('profile_id', sa.Integer()))
_assignments = sa.table('declaration_assignments', sa.column('device_id', sa.Integer()),
                        sa.column('declaration_id', sa.Integer()))
_enrollments = sa.table('ddm_enrollments', sa.column('device_id', sa.Integer()), sa.column('stale', sa.Boolean()))


def _used(value):
    """The known variables of the string values in a plist or JSON tree, at any depth (keys are Apple's names)."""
    if isinstance(value, str):
        return {name for name in _TOKEN.findall(value) if name in _VARIABLES} if "$" in value else set()
    children = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else ()
    return set().union(*map(_used, children))


def _profile_names(content):
    try:
        return _used(mobileconfig.decode(bytes(content)).profile)
    except mobileconfig.MobileconfigError:  # not stored through the library: every value counts, so none is missed
        return set(_VARIABLES)


def _set_declaration_names(names_of):
    """Give each legacy-profile declaration ``names_of(row)``; resync the devices holding one that changed."""
    bind = op.get_bind()
    moved = []
    for row in bind.execute(sa.select(_declarations.c.id, _declarations.c.payload, _declarations.c.variables,
                                      _declarations.c.profile_id)
                            .where(_declarations.c.profile_id.isnot(None))).all():
        names = " ".join(sorted(names_of(row)))
        if names != row.variables:
            bind.execute(_declarations.update().where(_declarations.c.id == row.id).values(variables=names))
            moved.append(row.id)
    if moved:
        holders = sa.select(_assignments.c.device_id).where(_assignments.c.declaration_id.in_(moved))
        bind.execute(_enrollments.update().where(_enrollments.c.device_id.in_(holders)).values(stale=True))


def upgrade():
    op.add_column('profiles', sa.Column('variables', sa.String(length=64), nullable=False, server_default=''))
    op.add_column('profile_states', sa.Column('filled_with', sa.String(length=32), nullable=True))
    op.add_column('app_states', sa.Column('filled_with', sa.String(length=32), nullable=True))
    bind = op.get_bind()
    names = {}
    for profile_id in bind.execute(sa.select(_profiles.c.id)).scalars().all():  # one profile's bytes at a time
        content = bind.execute(sa.select(_profiles.c.content).where(_profiles.c.id == profile_id)).scalar_one()
        names[profile_id] = _profile_names(content)
        if names[profile_id]:
            bind.execute(_profiles.update().where(_profiles.c.id == profile_id)
                         .values(variables=" ".join(sorted(names[profile_id]))))
    _set_declaration_names(lambda row: set(row.variables.split()) | names.get(row.profile_id, set()))


def downgrade():
    _set_declaration_names(lambda row: _used(row.payload))
    with op.batch_alter_table('app_states') as batch:
        batch.drop_column('filled_with')
    with op.batch_alter_table('profile_states') as batch:
        batch.drop_column('filled_with')
    with op.batch_alter_table('profiles') as batch:
        batch.drop_column('variables')
