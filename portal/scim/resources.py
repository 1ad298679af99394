"""``/scim/v2/Users`` and ``/scim/v2/Groups``. A user PATCH answers the user; a group PATCH answers 204."""
from ..models import EndUser, Group
from . import group_patch, group_records, user_records
from .views import ResourceEndpoints

USERS = ResourceEndpoints("Users", user_records, EndUser.id, user_records.patch, patch_answers_resource=True)
GROUPS = ResourceEndpoints("Groups", group_records, Group.id, group_patch.apply, patch_answers_resource=False)
