"""check-lookahead: peeking strategies are caught (column + first bar), shipped ones pass."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import pytest

from liqbt.lookahead import check_lookahead, choose_cuts
from liqbt.signals import Signals
from liqbt.strategy import Strategy, StrategyError, example_features, example_market, load_strategy

SHIPPED = ("sweep_reversal", "squeeze_breakout", "cold_side_stops")


class PeekSignal(Strategy):
    """Enters when the NEXT bar closes higher: the classic shift(-1) leak."""

    name = "peek_signal"

    def signals(self, ctx):
        nxt = pd.Series(ctx.close).shift(-1).to_numpy()
        return Signals.from_arrays(ctx.n, long_entry=nxt > ctx.close * 1.001)


class PeekStop(Strategy):
    """Honest entries, but the stop is the lowest low of the next 5 bars (a stop that never hits)."""

    name = "peek_stop"

    def signals(self, ctx):
        up = ctx.close > ctx.ema(20)
        entry = up & ~np.r_[False, up[:-1]]
        future_low = pd.Series(ctx.low[::-1]).rolling(5, min_periods=1).min().to_numpy()[::-1]
        sig = Signals.empty(ctx.n)
        sig.long_entry[:] = entry
        stop = np.minimum(future_low * 0.999, ctx.close * 0.999)
        sig.stop_price[entry] = stop[entry]
        return sig


class PeekNormalised(Strategy):
    """Normalises by the whole series' max (a statistic of future bars), recorded as a column."""

    name = "peek_normalised"

    def signals(self, ctx):
        level = ctx.close / np.nanmax(ctx.close)
        ctx.record("level", level)
        return Signals.empty(ctx.n)


class Honest(Strategy):
    name = "honest"

    def signals(self, ctx):
        up = ctx.close > ctx.ema(20)
        return Signals.from_arrays(ctx.n, long_entry=up & ~np.r_[False, up[:-1]])


class NeedsLongHistory(Strategy):
    name = "needs_history"

    def signals(self, ctx):
        if ctx.n < 200:
            raise ValueError("not enough bars")
        return Signals.empty(ctx.n)


@pytest.fixture(scope="module")
def market():
    return example_market(2500, seed=11)


def test_peeking_signal_is_caught_with_column_and_bar(market):
    report = check_lookahead(market, PeekSignal(), features_fn=example_features)
    assert not report.ok
    f = {x.column: x for x in report.findings}["long_entry"]
    assert f.kind == "signal"
    assert f.bar == f.cut - 1  # the last bar before the cut: it needed the next close
    assert f.full_value in (True, False) and f.full_value != f.cut_value
    assert 1 <= f.cuts_failed <= len(report.cuts)
    text = report.format()
    assert "FAIL" in text and "'long_entry'" in text and f"bar {f.bar}" in text
    assert "shift(-k)" in text and "cannot see" in text


def test_peeking_stop_is_caught(market):
    report = check_lookahead(market, PeekStop(), features_fn=example_features)
    cols = {x.column: x for x in report.findings}
    assert "stop_price" in cols and cols["stop_price"].kind == "stop"
    assert "long_entry" not in cols  # the entries themselves are honest


class PeekLimit(Strategy):
    """Honest entries, but the limit price is the next 5 bars' lowest low (a limit that always fills)."""

    name = "peek_limit"

    def signals(self, ctx):
        from liqbt.signals import LIMIT

        up = ctx.close > ctx.ema(20)
        entry = up & ~np.r_[False, up[:-1]]
        future_low = pd.Series(ctx.low[::-1]).rolling(5, min_periods=1).min().to_numpy()[::-1]
        sig = Signals.empty(ctx.n)
        sig.long_entry[:] = entry
        level = np.minimum(future_low * 1.0005, ctx.close * 0.999)
        sig.entry_type[entry] = LIMIT
        sig.entry_price[entry] = level[entry]
        sig.expire_bars[entry] = 5
        sig.stop_price[entry] = level[entry] * 0.99
        return sig


def test_peeking_limit_price_is_caught(market):
    report = check_lookahead(market, PeekLimit(), features_fn=example_features)
    cols = {x.column: x for x in report.findings}
    assert "entry_price" in cols and cols["entry_price"].kind == "order"
    assert "long_entry" not in cols and "entry_type" not in cols


def test_whole_series_statistic_is_caught_in_a_recorded_column(market):
    report = check_lookahead(market, PeekNormalised(), features_fn=example_features)
    cols = {x.column: x for x in report.findings}
    assert cols["record:level"].kind == "record"
    assert "no entries" in report.format()


def test_peeking_features_are_blamed_on_features(market):
    def centred(m):
        f = example_features(m)
        f["long_near_usd"] = pd.Series(m.volume).rolling(9, center=True, min_periods=1).sum().to_numpy()
        return f

    report = check_lookahead(market, Honest(), features_fn=centred)
    assert [x.column for x in report.findings] == ["long_near_usd"]
    assert report.findings[0].kind == "feature"
    assert "not from the strategy" in report.format()


def test_honest_strategy_passes_and_cuts_follow_entries(market):
    report = check_lookahead(market, Honest(), features_fn=example_features, n_cuts=2, entry_cuts=3, random_cuts=2)
    assert report.ok, report.format()
    assert report.total_entries > 3
    assert len(report.cuts) == 7  # 2 even + 3 after entries + 2 at random bars without an entry
    assert "PASS" in report.format()


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_strategies_pass_on_example_features(name, market):
    report = check_lookahead(market, load_strategy(name)(), features_fn=example_features)
    assert report.total_entries > 0, f"{name} never trades here: the check would be weak"
    assert report.ok, report.format()


def test_failure_on_a_short_prefix_is_reported(market):
    with pytest.raises(StrategyError, match="failed on the first .* bars"):
        check_lookahead(market, NeedsLongHistory(), cuts=[100])


def test_choose_cuts_stays_in_range():
    cuts = choose_cuts(1000, np.array([0, 5, 998, 999]), n_cuts=3, entry_cuts=4)
    assert all(0 < c < 1000 for c in cuts) and cuts == sorted(set(cuts))
    assert choose_cuts(10, np.array([], int)) == []


# --------------------------------------------------------------------------- end to end with the heatmap


@pytest.fixture(scope="module")
def heatmap_market():
    from liqbt.heatmap.heatmap import synthetic_market

    return synthetic_market(4000, seed=5)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_strategies_pass_with_the_real_heatmap(name, heatmap_market):
    from liqbt.heatmap import HeatmapParams

    report = check_lookahead(heatmap_market, load_strategy(name)(), heatmap_params=HeatmapParams())
    assert report.columns_checked["feature"] >= 39
    assert report.ok, report.format()


def test_heatmap_at_a_future_time_is_caught(heatmap_market):
    from liqbt.heatmap import HeatmapParams

    class LastSnapshot(Strategy):
        """Reads the density map at the END of the data for every bar."""

        name = "last_snapshot"

        def signals(self, ctx):
            _, long_usd, _ = ctx.heatmap.at(int(ctx.close_time[-1]))
            ctx.record("support", np.full(ctx.n, long_usd.sum()))
            return Signals.empty(ctx.n)

    report = check_lookahead(heatmap_market, LastSnapshot(), heatmap_params=HeatmapParams(), cuts=[2000])
    assert [f.column for f in report.findings] == ["record:support"]


# --------------------------------------------------------------------------- CLI


CFG = """
name = "la"
[data]
symbol = "SYNTHUSDT"
exchange = "binance"
interval = "1m"
start = "2024-01-01"
end = "2024-01-02"
[strategy]
name = "{name}"
"""

PEEK_MODULE = '''
import pandas as pd
from liqbt.signals import Signals
from liqbt.strategy import Strategy

class Peeker(Strategy):
    name = "peeker"

    def signals(self, ctx):
        nxt = pd.Series(ctx.close).shift(-1).to_numpy()
        return Signals.from_arrays(ctx.n, long_entry=nxt > ctx.close)
'''


@pytest.mark.slow
def test_cli_check_lookahead(sim_db, tmp_path, capsys):
    from liqbt.cli import main

    (tmp_path / "ok.toml").write_text(CFG.format(name="cold_side_stops"))
    assert main(["check-lookahead", str(tmp_path / "ok.toml"), "--db", str(sim_db), "--no-progress",
                 "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "SYNTHUSDT" in out
    assert '"ok": true' in (tmp_path / "r.json").read_text()

    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "peeker.py").write_text(textwrap.dedent(PEEK_MODULE))
    (tmp_path / "bad.toml").write_text(CFG.format(name="peeker"))
    code = main(["check-lookahead", str(tmp_path / "bad.toml"), "--db", str(sim_db), "--no-progress",
                 "--strategy-path", str(tmp_path / "mine"), "--cuts", "2"])
    out = capsys.readouterr().out
    assert code == 3  # the check ran and found a peek (1 = internal error, 2 = bad input)
    assert "FAIL" in out and "'long_entry'" in out and "peeker.py" in out

    assert main(["check-lookahead", str(tmp_path / "bad.toml"), "--db", str(sim_db)]) == 2
    assert "unknown strategy 'peeker'" in capsys.readouterr().err
