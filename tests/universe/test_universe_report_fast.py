"""The universe report's equity figure is written as a plain plotly dict (no validating plotly
objects, issue #13 speed): plotly must accept it as is, with one trace per curve."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd


def _res(mode: str, n: int = 7000):
    idx = pd.date_range("2024-01-01", periods=n, freq="5min", tz="UTC")
    rng = np.random.default_rng(0)
    cols = {f"equity_{s}": 10_000 * np.exp(rng.normal(0, 1e-3, n).cumsum()) for s in ("AUSDT", "BUSDT")}
    eq = pd.DataFrame({"equity": np.mean(list(cols.values()), axis=0), **cols}, index=idx)
    return SimpleNamespace(equity=eq, spec=SimpleNamespace(mode=mode),
                           config=SimpleNamespace(backtest=SimpleNamespace(init_cash=10_000.0)))


def test_figure_dict_is_valid_plotly():
    from liqbt.report.universe_html import MAX_POINTS, build_figure, figure_dict

    res = _res("independent")
    d = figure_dict(res)
    assert [t["name"] for t in d["data"]] == ["aggregate (equal weight)", "AUSDT (own account)", "BUSDT (own account)"]
    assert all(len(t["x"]) == len(t["y"]) <= MAX_POINTS for t in d["data"])
    fig = build_figure(res)  # plotly validates every key
    assert len(fig.data) == 3 and fig.layout.template.layout.paper_bgcolor is not None
    np.testing.assert_allclose(np.asarray(fig.data[1].y), res.equity["equity_AUSDT"].to_numpy()[::3])
    assert fig.data[0].x[0].startswith("2024-01-01T00:00")
    assert figure_dict(_res("portfolio"))["data"][0]["name"] == "portfolio (one account)"
