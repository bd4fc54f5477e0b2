"""The launcher registry: launcher.name picks one."""

from __future__ import annotations

from pipeline.launch.local import LocalLauncher

LAUNCHERS = {"local": LocalLauncher}
