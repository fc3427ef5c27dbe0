"""What a command process loads (its modules, its database driver) lives as long as the
process: the cyclic garbage collector is paused while it loads, since a collection then finds
nothing, and is told never to walk it again (gc.freeze), the collection at exit included."""
from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def loading_for_good() -> Iterator[None]:
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if collecting:
            gc.enable()
