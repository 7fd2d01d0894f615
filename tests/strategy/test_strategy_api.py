"""Strategy API: params and sweep ranges, discovery, error wrapping, context, validation."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from liqbt.errors import InputError
from liqbt.features import FEATURE_COLUMNS
from liqbt.strategy import (
    Strategy,
    StrategyError,
    build_context,
    discover_strategies,
    example_features,
    example_market,
    load_strategy,
    run_strategy,
)

GOOD = '''
from dataclasses import dataclass
import numpy as np
from liqbt.signals import Signals
from liqbt.strategy import Strategy, param

class {cls}(Strategy):
    name = "{name}"

    @dataclass(frozen=True)
    class Params:
        span: int = param(10, low=5, high=20, step=5, help="EMA span")
        side: str = param("long", choices=("long", "short"))

    def signals(self, ctx):
        up = ctx.close > ctx.ema(self.params.span)
        return Signals.from_arrays(ctx.n, long_entry=up & ~np.r_[False, up[:-1]])
'''

RAISES = '''
import numpy as np
from liqbt.strategy import Strategy

class Boom(Strategy):
    name = "boom"

    def signals(self, ctx):
        for i in range(ctx.n):
            if i == 17:
                raise ZeroDivisionError("division by zero in my rule")
'''


def write(folder: Path, filename: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / filename
    path.write_text(textwrap.dedent(text))
    return path


def test_shipped_strategies_are_discovered():
    reg = discover_strategies()
    assert {"sweep_reversal", "squeeze_breakout", "cold_side_stops"} <= set(reg.strategies)


def test_param_space_and_from_params():
    cls = load_strategy("squeeze_breakout")
    space = cls.param_space()
    assert space["be_consumed"].default == 0.5
    assert space["be_consumed"].grid() == [0.25, 0.5, 0.75, 1.0]
    assert space["stop"].grid() == ["atr", "cold_side"]
    assert space["ema_period"].grid()[:2] == [50, 100] and all(isinstance(v, int) for v in space["ema_period"].grid())
    s = cls.from_params({"ema_period": 100}, where="x.toml [strategy.params]")
    assert s.params.ema_period == 100 and s.params.be_consumed == 0.5
    with pytest.raises(InputError, match=r"x.toml \[strategy.params\]: unknown key 'ema_perod'.*ema_period"):
        cls.from_params({"ema_perod": 100}, where="x.toml [strategy.params]")
    with pytest.raises(InputError, match="stop"):
        cls.from_params({"stop": "wide"}, where="x.toml [strategy.params]")


def test_load_by_name_module_class_and_path(tmp_path):
    write(tmp_path / "mine", "alpha_one.py", GOOD.format(cls="AlphaOne", name="alpha_one"))
    cls = load_strategy("alpha_one", search_paths=[tmp_path / "mine"])
    assert cls.__name__ == "AlphaOne" and cls.source().endswith("alpha_one.py")
    assert load_strategy("alpha_one:AlphaOne", search_paths=[tmp_path / "mine"]) is cls
    assert load_strategy(f"{tmp_path}/mine/alpha_one.py:AlphaOne") is cls
    # a module whose file name differs from the strategy name is found by discovery
    write(tmp_path / "mine", "misc.py", GOOD.format(cls="Beta", name="beta_two"))
    assert load_strategy("beta_two", search_paths=[tmp_path / "mine"]).__name__ == "Beta"
    with pytest.raises(InputError, match="no Strategy class 'Nope'.*AlphaOne"):
        load_strategy("alpha_one:Nope", search_paths=[tmp_path / "mine"])
    # an installed module by dotted path
    assert load_strategy("liqbt.strategy:Strategy") is Strategy


def test_unknown_name_lists_known_and_broken_modules(tmp_path):
    write(tmp_path, "good.py", GOOD.format(cls="Good", name="good_one"))
    write(tmp_path, "broken.py", "import numpy as np\nx = 1 / 0\n")
    with pytest.raises(InputError) as err:
        load_strategy("nope", search_paths=[tmp_path])
    msg = str(err.value)
    assert "unknown strategy 'nope'" in msg
    assert "good_one" in msg and "sweep_reversal" in msg
    assert "broken.py" in msg and "ZeroDivisionError" in msg


def test_import_error_names_the_file_and_keeps_traceback(tmp_path):
    write(tmp_path, "bad_syntax.py", "from liqbt.strategy import Strategy\nclass X(Strategy:\n    pass\n")
    with pytest.raises(StrategyError) as err:
        load_strategy("bad_syntax", search_paths=[tmp_path])
    assert str(tmp_path / "bad_syntax.py") in str(err.value)
    assert "SyntaxError" in str(err.value)
    assert isinstance(err.value.__cause__, SyntaxError)


def test_strategy_exception_is_wrapped_with_module_and_bar(tmp_path):
    path = write(tmp_path, "boom.py", RAISES)
    cls = load_strategy("boom", search_paths=[tmp_path])
    m = example_market(50)
    with pytest.raises(StrategyError) as err:
        run_strategy(cls(), build_context(m))
    e = err.value
    assert e.bar == 17 and e.module_path == str(path)
    msg = str(e)
    assert "strategy 'boom'" in msg and str(path) in msg and "at bar 17" in msg
    assert "2024-01-01T00:17:00" in msg  # the bar's time
    assert "ZeroDivisionError: division by zero in my rule" in msg
    assert "original traceback" in msg and 'boom.py", line' in msg
    assert isinstance(e.__cause__, ZeroDivisionError)
    assert e.exit_code == 2


def test_invalid_signals_are_reported_with_the_strategy(tmp_path):
    class Short(Strategy):
        name = "short_arrays"

        def signals(self, ctx):
            from liqbt.signals import Signals

            return Signals.from_arrays(ctx.n - 1, long_entry=np.zeros(ctx.n - 1, bool))

    with pytest.raises(InputError, match="strategy 'short_arrays'.*long_entry has shape"):
        run_strategy(Short(), build_context(example_market(30)))

    class NotSignals(Strategy):
        def signals(self, ctx):
            return {"long_entry": []}

    assert NotSignals.name == "not_signals"
    with pytest.raises(StrategyError, match="returned dict"):
        run_strategy(NotSignals(), build_context(example_market(30)))


def test_entry_points_are_discovered(monkeypatch, tmp_path):
    import importlib.metadata as md
    import sys

    write(tmp_path, "ep_pkg_strat.py", GOOD.format(cls="FromEP", name="from_ep"))
    monkeypatch.syspath_prepend(str(tmp_path))

    class EP:
        name = "from_ep"
        value = "ep_pkg_strat:FromEP"

        def load(self):
            import ep_pkg_strat

            return ep_pkg_strat.FromEP

    real = md.entry_points
    monkeypatch.setattr(md, "entry_points", lambda group=None, **kw: [EP()] if group == "liqbt.strategies" else real(group=group, **kw))
    assert load_strategy("from_ep").__name__ == "FromEP"
    sys.modules.pop("ep_pkg_strat", None)


def test_build_context_features_and_indicators():
    m = example_market(300)
    ctx = build_context(m)
    assert list(ctx.features.columns) == list(FEATURE_COLUMNS)
    assert ctx.features.isna().all().all()
    assert ctx.features.index.equals(m.to_frame().index)
    assert ctx.ema(20) is ctx.ema(20)  # cached
    assert ctx.vwap("1d").shape == (300,)
    assert ctx.funding.sum() == pytest.approx(1e-4)  # one settlement at 00:00:00.005 in the first bar
    with pytest.raises(InputError, match="unknown feature column 'long_near_edge'"):
        ctx.feature("long_near_edge")
    f = example_features(m)
    with pytest.raises(InputError, match="features have 299 rows"):
        build_context(m, features=f.iloc[:-1])
    ctx2 = build_context(m, features=f.reset_index(drop=True))
    np.testing.assert_array_equal(ctx2.feature("long_near_far_edge"), f["long_near_far_edge"].to_numpy())


def test_example_features_are_point_in_time():
    m = example_market(800, seed=4)
    full = example_features(m)
    for cut in (100, 450, 799):
        part = example_features(m.truncate(cut))
        pd.testing.assert_frame_equal(part, full.iloc[:cut])
