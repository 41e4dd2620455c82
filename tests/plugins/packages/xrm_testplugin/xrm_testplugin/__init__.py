"""A plugin package built and installed by the packaging tests."""
