"""xrm-sales: leads, opportunities, quotes, orders and contracts for xRM."""

__version__ = "1.1.0"
