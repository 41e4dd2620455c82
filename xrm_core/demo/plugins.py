"""The plugins' part of ``xrm demo``: install every available plugin, then fill it."""

from __future__ import annotations

from packaging.version import Version

from xrm_core.plugins.manager import call_each
from xrm_core.plugins.manifest import resolve
from xrm_core.plugins.startup import start
from xrm_core.version import __version__
from xrm_core.xrm import XRM


def load_plugins(xrm: XRM, size: int) -> list[str]:
    """Install the available plugins not installed yet (upgrade older ones), start them,
    call their demo hooks.

    In dependency order, each ``xrm_demo_data(xrm, size)`` in the system
    context ``xrm`` acts in. Each hook adds its data once: it checks whether
    its data is there already, so running the demo again adds nothing. Plugins
    an administrator disabled are neither started nor filled. Returns a line
    per thing done, for the command line to print.
    """
    service = xrm.plugins
    done = []
    installed = service.installed()
    for manifest in resolve(service.available().values(), __version__):
        if manifest.name not in installed:
            service.install(manifest.name)
            done.append(f"Installed plugin {manifest.name} {manifest.version}.")
        elif Version(installed[manifest.name].version) < manifest.version:
            # The demo data is the new version's (activities regarding any record).
            service.upgrade(manifest.name)
            done.append(f"Upgraded plugin {manifest.name} to {manifest.version}.")
    started = [name for name in start(xrm, xrm.plugin_manager) if name != "core"]
    call_each(xrm.plugin_manager, "xrm_demo_data", started, xrm=xrm, size=size)
    if started:
        done.append(f"Demo data of plugins (added once): {', '.join(started)}.")
    return done
