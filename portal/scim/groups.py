"""``/scim/v2/Groups``: create, read, replace, patch (membership), delete and search groups."""
from __future__ import annotations

from ..models import Group
from . import bp, group_patch, group_records as records
from .protocol import answer, location, read_json
from .views import committed, listing


@bp.get("/Groups")
def list_groups():
    return listing(records.search, Group.id, records.resources)


@bp.post("/Groups")
def create_group():
    group = records.create(read_json())
    committed()
    return answer(records.resources([group])[0], 201, location("Groups", group.scim_id))


@bp.get("/Groups/<scim_id>")
def get_group(scim_id: str):
    return answer(records.resources([records.find(scim_id)])[0])


@bp.put("/Groups/<scim_id>")
def replace_group(scim_id: str):
    group = records.find(scim_id)
    records.replace(group, read_json())
    committed()
    return answer(records.resources([group])[0])


@bp.patch("/Groups/<scim_id>")
def patch_group(scim_id: str):
    group = records.find(scim_id)
    group_patch.apply(group, read_json())
    committed()
    return "", 204  # RFC 7644 3.5.2: no body unless attributes were asked for; a group may hold thousands


@bp.delete("/Groups/<scim_id>")
def delete_group(scim_id: str):
    records.delete(records.find(scim_id))
    committed()
    return "", 204
