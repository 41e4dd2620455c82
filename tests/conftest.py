"""The core's tests use xRM's pytest plugin (``xrm_core.testing.pytest_plugin``), registered
by the ``xrm`` package's ``pytest11`` entry point: ``db_url``, ``sqlite_url``, ``xrm`` and
``postgres_server`` run each test on SQLite and on a real PostgreSQL."""
