"""The HTTP interfaces: the REST API (and the app that also serves GraphQL and the admin UI)."""
