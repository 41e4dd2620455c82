"""The examples are packages to build and install, not tests of this repository.

``tests/plugins/test_packaging.py`` builds each one into a wheel, installs it
and runs its own tests; here, uninstalled, their imports would fail.
"""

collect_ignore = ["xrm_hello"]
