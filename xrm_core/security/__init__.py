"""Security: principals, roles and scopes, sharing, field security, authentication."""
