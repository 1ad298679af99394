"""An independent SCIM client from PyPI (scim2-client, its in-process WSGI engine) drives the endpoint:
discovery, create, filter, page, patch membership, replace, deactivate, delete; errors come back as SCIM errors."""
import pytest
from scim2_client.engines.wsgi import WSGISCIMClient
from scim2_models import Group, GroupMember, ListResponse, PatchOp, PatchOperation, SCIMException, SearchRequest


@pytest.fixture
def directory(app, api_token):
    token = api_token("scim2-client", scopes=("scim",))
    client = WSGISCIMClient(app, base_url=f"{app.config['PUBLIC_URL']}/scim/v2",
                            headers={"Authorization": f"Bearer {token}"})
    client.discover()
    return client


def test_the_client_discovers_and_runs_a_whole_lifecycle(directory):
    assert {t.id for t in directory.provider.resource_types} == {"User", "Group"}
    assert directory.provider.config.patch.supported is True
    UserModel = directory.get_resource_model("User")
    people = []
    for n in range(5):
        person = UserModel.model_validate({"userName": f"client{n}@example.com", "displayName": f"Client {n}",
                                           "emails": [{"value": f"client{n}@example.com", "primary": True}],
                                           "active": True})
        people.append(directory.create(person))
    assert all(p.id and p.meta.resource_type == "User" for p in people)

    found = directory.query(UserModel, query_parameters=SearchRequest(filter='userName eq "client3@example.com"'))
    assert isinstance(found, ListResponse) and [u.id for u in found.resources] == [people[3].id]
    page = directory.query(UserModel, query_parameters=SearchRequest(start_index=2, count=2))
    assert page.total_results == 5 and [u.id for u in page.resources] == [p.id for p in people[1:3]]

    group = directory.create(Group(display_name="Field Sales", members=[GroupMember(value=people[0].id)]))
    directory.modify(Group, group.id, PatchOp[Group](operations=[
        PatchOperation[Group](op=PatchOperation.Op.add, path="members",
                              value=[GroupMember(value=people[1].id), GroupMember(value=people[2].id)])]))
    directory.modify(Group, group.id, PatchOp[Group](operations=[
        PatchOperation[Group](op=PatchOperation.Op.remove, path=f'members[value eq "{people[0].id}"]')]))
    members = {m.value for m in directory.query(Group, group.id).members}
    assert members == {people[1].id, people[2].id}

    replacement = directory.query(UserModel, people[4].id)
    replacement.display_name = "Renamed Client"
    replaced = directory.replace(replacement)
    assert replaced.display_name == "Renamed Client" and replaced.id == people[4].id

    deactivated = directory.modify(UserModel, people[2].id, PatchOp[UserModel](operations=[
        PatchOperation[UserModel](op=PatchOperation.Op.replace_, path="active", value=False)]))
    assert deactivated.active is False

    directory.delete(UserModel, people[1].id)
    directory.delete(Group, group.id)
    with pytest.raises(SCIMException) as missing:
        directory.query(UserModel, people[1].id)
    assert missing.value.status == 404


def test_the_client_reads_the_servers_errors(directory):
    UserModel = directory.get_resource_model("User")
    directory.create(UserModel(user_name="taken@example.com"))
    with pytest.raises(SCIMException) as taken:
        directory.create(UserModel(user_name="taken@example.com"))
    assert taken.value.status == 409 and taken.value.scim_type == "uniqueness"
    with pytest.raises(SCIMException) as bad_filter:
        directory.query(UserModel, query_parameters=SearchRequest(filter='title eq "x"'))
    assert bad_filter.value.status == 400 and bad_filter.value.scim_type == "invalidFilter"
