"""The null control reuses one Signals buffer across draws (issue #13 speed): every draw must
equal the freshly allocated signals of the same draw, whatever the previous draw wrote."""

from __future__ import annotations

import numpy as np

from liqbt.signals import _BOOL, _FLOAT, _INT
from liqbt.stats import _null_signals, _NullBuffer


def test_buffered_null_signals_equal_fresh_ones():
    rng = np.random.default_rng(3)
    n = 500
    close = 100 + rng.normal(size=n).cumsum()
    long_exit = rng.random(n) < 0.02
    short_exit = rng.random(n) < 0.02
    buf = _NullBuffer(n)
    for draw in range(12):
        k = 40
        bars = rng.integers(-1, n - 1, size=k)  # -1 = no room; duplicates collide long/short
        side = np.where(rng.random(k) < 0.5, 1, -1)
        fracs = {"stop_price": -side * 0.01, "take_profit": side * rng.uniform(0.01, 0.03, k),
                 "tp1_frac": np.where(rng.random(k) < 0.5, 0.5, np.nan)}
        if draw % 3 == 0:
            fracs.pop("tp1_frac")  # a field the previous draw wrote and this one does not
        trail = np.where(rng.random(k) < 0.3, 0.01, np.nan)
        order = {} if draw % 2 else {"et": rng.integers(0, 2, k), "entry_frac": rng.uniform(-0.01, 0.01, k),
                                     "expire": rng.integers(1, 5, k)}
        args = (n, close, bars, side, fracs, trail, long_exit, short_exit)
        fresh = _null_signals(*args, **order)
        reused = _null_signals(*args, **order, buf=buf)
        assert reused is buf.s
        assert fresh.long_entry.any() and fresh.short_entry.any()
        assert not (reused.long_entry & reused.short_entry).any()
        for name in _BOOL + _FLOAT + _INT:
            np.testing.assert_array_equal(getattr(reused, name), getattr(fresh, name), err_msg=f"draw {draw} {name}")
