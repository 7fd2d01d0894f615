"""The progress bar class: ``tqdm.auto``'s notebook bar inside IPython/Jupyter, the plain
terminal bar everywhere else.

``tqdm.auto`` makes the same choice, but importing it also imports ``asyncio`` (for its async
iterator support), ≈ 20 ms of CPU in every ``liqbt run``; liqbt only iterates synchronously.
"""

from __future__ import annotations

import sys

if "IPython" in sys.modules:  # a notebook or IPython shell: let tqdm.auto pick the widget bar
    from tqdm.auto import tqdm
else:
    from tqdm.std import tqdm

__all__ = ["tqdm"]
