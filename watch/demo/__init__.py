"""The bundled demo sector: Cyclonova, a French e-bike maker, and eight fictional outlets that cover its market.

``sector.yaml`` holds the outlets and their entries (dates relative to the day the server starts); the repo's root
``sources.yaml`` is the watch configuration that points at them through ``${VEILLE_DEMO_URL}``. ``DemoServer``
serves every feed, outlet home page and article over real local HTTP (ETag, Last-Modified, 304, gzip), so the whole
pipeline can be shown offline::

    from watch.demo import DemoServer

    with DemoServer(port=0) as server:
        print(server.base_url)  # e.g. http://127.0.0.1:41237; export it as VEILLE_DEMO_URL

``python -m watch.demo.server`` runs it in the foreground.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from watch.demo.server import DemoServer, build_site

SECTOR_FILE = Path(__file__).with_name("sector.yaml")

__all__ = ["SECTOR_FILE", "DemoServer", "build_site"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so that `python -m watch.demo.server` does not find the module already loaded.
    if name in ("DemoServer", "build_site"):
        from watch.demo import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
