"""GraphQL on a running ``xrm serve``, through a standard client over real HTTP."""

from __future__ import annotations

import pytest
from gql import Client, GraphQLRequest
from gql.transport.httpx import HTTPXTransport


@pytest.mark.slow
def test_a_standard_client_introspects_and_queries_a_running_server(
    served: tuple[str, str],
) -> None:
    base, token = served
    transport = HTTPXTransport(
        url=f"{base}/graphql", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    with Client(transport=transport, fetch_schema_from_transport=True) as session:
        made = session.execute(
            GraphQLRequest(
                "mutation($name: String) { createPerson(data: {name: $name}) { id name } }",
                variable_values={"name": "Ada Lovelace"},
            )
        )
        found = session.execute(
            GraphQLRequest('{ personList(filter: {name: {eq: "Ada Lovelace"}}) { nodes { id } } }')
        )
        assert session.client.schema is not None  # fetched by introspection
        assert "ParkingViolation" in session.client.schema.type_map
    assert found["personList"]["nodes"] == [{"id": made["createPerson"]["id"]}]
