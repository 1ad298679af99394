"""ddm: data and certificate assets this server serves are fetched over MDM (Authentication MDM): their stored
payloads, server tokens and shared JSON rewritten, the devices holding them synced again

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 10:00:00.000000

"""
import hashlib
import json

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

_declarations = sa.table('declarations', sa.column('id', sa.Integer()), sa.column('type', sa.String()),
                         sa.column('identifier', sa.String()), sa.column('payload', sa.JSON()),
                         sa.column('server_token', sa.String()), sa.column('has_variables', sa.Boolean()),
                         sa.column('asset_data', sa.LargeBinary()), sa.column('document', sa.Text()))
_assignments = sa.table('declaration_assignments', sa.column('device_id', sa.Integer()),
                        sa.column('declaration_id', sa.Integer()))
_enrollments = sa.table('ddm_enrollments', sa.column('device_id', sa.Integer()), sa.column('stale', sa.Boolean()))


def _authenticate(kind: str, shared: bool) -> None:
    """Set the served assets' Authentication to ``kind``: a new server token (as mdm_core.ddm.declarations
    server_token makes it), the JSON every device gets when ``shared`` (as portal.declarations.documents
    shared_document writes it), and the devices that hold them stale, so the worker sends each one its new
    DeclarationsToken."""
    bind = op.get_bind()
    served = sa.select(_declarations.c.id, _declarations.c.type, _declarations.c.identifier,
                       _declarations.c.payload, _declarations.c.has_variables
                       ).where(_declarations.c.asset_data.isnot(None))
    changed = []
    for row in bind.execute(served).all():
        if row.payload.get("Authentication") == {"Type": kind}:
            continue
        payload = {**row.payload, "Authentication": {"Type": kind}}
        content = json.dumps({"Type": row.type, "Identifier": row.identifier, "Payload": payload}, sort_keys=True,
                             separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
        token = hashlib.sha256(content).hexdigest()[:32]
        document = None
        if shared and not row.has_variables:
            document = json.dumps({"Type": row.type, "Identifier": row.identifier, "ServerToken": token,
                                   "Payload": payload}, separators=(",", ":"))
        bind.execute(_declarations.update().where(_declarations.c.id == row.id)
                     .values(payload=payload, server_token=token, document=document))
        changed.append(row.id)
    if changed:
        holders = sa.select(_assignments.c.device_id).where(_assignments.c.declaration_id.in_(changed))
        bind.execute(_enrollments.update().where(_enrollments.c.device_id.in_(holders)).values(stale=True))


def upgrade():
    _authenticate("MDM", shared=True)


def downgrade():
    # the per-device URL (device and key) is written into each device's copy again, at each fetch
    _authenticate("None", shared=False)
