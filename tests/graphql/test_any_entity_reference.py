"""A polymorphic lookup to any entity in GraphQL and OpenAPI (SQLite and PostgreSQL)."""

from __future__ import annotations

from tests.graphql.conftest import Api

NOTE = {
    "x-xrm": {"name": "note"},
    "properties": {
        "text": {"type": "string"},
        "about": {"x-xrm": {"kind": "polymorphic_lookup", "targets": "*"}},
    },
}


def test_any_entity_lookup_reads_writes_and_resolves_in_reverse_on_every_entity(
    api: Api,
) -> None:
    api.xrm.metadata.define(NOTE)
    acme = api.xrm.records("account").create({"name": "Acme"})
    made = api.execute(
        """
        mutation($about: ReferenceInput) {
          createNote(data: {text: "Called", about: $about}) { about { entity id } }
        }
        """,
        {"about": {"entity": "account", "id": str(acme["id"])}},
    )
    api.xrm.metadata.define({"x-xrm": {"name": "project"}, "properties": {"n": {"type": "string"}}})
    apollo = api.xrm.records("project").create({"n": "Apollo"})
    api.xrm.records("note").create(
        {"text": "Kick-off", "about": {"entity": "project", "id": apollo["id"]}}
    )

    got = api.execute(
        """
        query($acme: ID!, $apollo: ID!) {
          account(id: $acme) { noteListByAbout { text } }
          project(id: $apollo) { noteListByAbout { text about { entity } } }
        }
        """,
        {"acme": str(acme["id"]), "apollo": str(apollo["id"])},
    )
    planet = f'{{entity: "planet", id: "{acme["id"]}"}}'
    refused = api.post(f'mutation {{ createNote(data: {{text: "x", about: {planet}}}) {{ id }} }}')

    assert made["createNote"]["about"] == {"entity": "account", "id": str(acme["id"])}
    assert got["account"] == {"noteListByAbout": [{"text": "Called"}]}
    assert got["project"] == {
        "noteListByAbout": [{"text": "Kick-off", "about": {"entity": "project"}}]
    }
    assert refused["errors"][0]["extensions"]["code"] == "broken_reference"


def test_openapi_describes_the_entity_part_as_any_entity_name(api: Api) -> None:
    api.xrm.metadata.define(NOTE)

    spec = api.client.get(
        "/api/openapi.json", headers={"Authorization": f"Bearer {api.admin_token}"}
    ).json()

    given = spec["components"]["schemas"]["note.create"]["properties"]["about"]
    reference = next(a for a in given["anyOf"] if a.get("type") == "object")
    assert reference["properties"]["entity"] == {
        "type": "string",
        "description": "the name of any entity",
    }
