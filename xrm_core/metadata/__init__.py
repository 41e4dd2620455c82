"""Metadata: entity definitions, their checking, plans of change, and the service."""
