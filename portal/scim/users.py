"""``/scim/v2/Users``: create, read, replace, patch, delete and search people."""
from __future__ import annotations

from ..models import EndUser
from . import bp, user_records as records
from .protocol import answer, location, read_json
from .views import committed, listing


@bp.get("/Users")
def list_users():
    return listing(records.search, EndUser.id, records.resources)


@bp.post("/Users")
def create_user():
    user = records.create(read_json())
    committed()
    return answer(records.resources([user])[0], 201, location("Users", user.scim_id))


@bp.get("/Users/<scim_id>")
def get_user(scim_id: str):
    return answer(records.resources([records.find(scim_id)])[0])


@bp.put("/Users/<scim_id>")
def replace_user(scim_id: str):
    user = records.find(scim_id)
    records.replace(user, read_json())
    committed()
    return answer(records.resources([user])[0])


@bp.patch("/Users/<scim_id>")
def patch_user(scim_id: str):
    user = records.find(scim_id)
    records.patch(user, read_json())
    committed()
    return answer(records.resources([user])[0])


@bp.delete("/Users/<scim_id>")
def delete_user(scim_id: str):
    records.delete(records.find(scim_id))
    committed()
    return "", 204
