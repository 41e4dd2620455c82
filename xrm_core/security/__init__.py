"""Security: principals, roles and scopes, sharing, field security, authentication."""

# The security tables must be part of the core's metadata before it is created.
from xrm_core.security import auth as auth
from xrm_core.security import tables as tables
