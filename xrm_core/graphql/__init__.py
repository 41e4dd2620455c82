"""GraphQL at ``/graphql``: a schema made from live metadata, over the record service.

See docs/graphql.md. :func:`~xrm_core.graphql.endpoint.routes` is mounted by
:func:`xrm_core.api.app.create_app`; :func:`~xrm_core.graphql.schema.build_schema`
makes the schema of a database (``print(build_schema(xrm))`` shows it as SDL).
"""

from xrm_core.graphql.endpoint import GraphQLEndpoint, routes
from xrm_core.graphql.schema import SchemaCache, build_schema

__all__ = ["GraphQLEndpoint", "SchemaCache", "build_schema", "routes"]
