"""Heatmap (and feature) cache keyed by the data fingerprint and the heatmap params.

A sweep asks :meth:`HeatmapCache.get` for each distinct ``[heatmap]`` setting: the first call
reconstructs and stores the result (memory, and disk unless ``root`` is None), later calls — in
the same sweep, a resumed one or another sweep over the same archive rows — load it. The key is
``sha256(fingerprint | resolved heatmap params)``, so a changed archive row or parameter is a
different entry. Files are written atomically (temp file + rename).

Default folder: ``$LIQBT_CACHE`` or ``~/.cache/liqbt``, subfolder ``heatmaps/``.

>>> from liqbt.heatmap import HeatmapParams
>>> from liqbt.heatmap.heatmap import synthetic_market
>>> cache = HeatmapCache(None)                     # memory only
>>> m = synthetic_market(300)
>>> a = cache.get(m, "fp", HeatmapParams(snapshot_every=60)); b = cache.get(m, "fp", HeatmapParams(snapshot_every=60))
>>> a is b, cache.builds
(True, 1)
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from liqbt.mapping import config_hash, from_mapping, to_mapping

log = logging.getLogger(__name__)

_ARRAYS = ("times", "pred", "mass", "snapshot_times", "snapshot_k0", "snapshots_long",
           "snapshots_short", "features_array")


def default_cache_dir() -> Path:
    """``$LIQBT_CACHE`` or ``~/.cache/liqbt``."""
    env = os.environ.get("LIQBT_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "liqbt"


def heatmap_key(fingerprint: str, params) -> str:
    """Cache key of a heatmap: data fingerprint + resolved params."""
    return config_hash({"fingerprint": fingerprint, "heatmap": to_mapping(params)})[:32]


def save_heatmap(hm, path: Path) -> Path:
    """Write a :class:`~liqbt.heatmap.Heatmap` as one uncompressed ``.npz`` (atomic)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"symbol": hm.symbol, "params": to_mapping(hm.params), "interval_ms": hm.interval_ms,
            "contract_type": hm.contract_type, "meta": hm.meta}
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npz")
    os.close(fd)
    try:
        np.savez(tmp, meta=np.array(json.dumps(meta, default=str)),
                 **{name: getattr(hm, name) for name in _ARRAYS})
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_heatmap(path: Path):
    """Read what :func:`save_heatmap` wrote."""
    from liqbt.heatmap import Heatmap, HeatmapParams

    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        arrays = {name: z[name] for name in _ARRAYS}
    params = from_mapping(HeatmapParams, meta["params"], where=f"{path} [heatmap]")
    return Heatmap(symbol=meta["symbol"], params=params, interval_ms=int(meta["interval_ms"]),
                   contract_type=meta["contract_type"], meta=meta["meta"], **arrays)


class HeatmapCache:
    """Memory + disk cache of reconstructed heatmaps. ``builds``/``loads`` count what happened."""

    def __init__(self, root: str | Path | None = "default", *, max_memory: int = 4):
        if root == "default":
            root = default_cache_dir()
        self.root = None if root is None else Path(root) / "heatmaps"
        self.max_memory = max_memory
        self._mem: dict[str, object] = {}
        self.builds = 0
        self.loads = 0

    def path(self, key: str) -> Path | None:
        return None if self.root is None else self.root / f"{key}.npz"

    def get(self, market, fingerprint: str, params):
        """The heatmap of ``market`` (whose rows hash to ``fingerprint``) under ``params``."""
        from liqbt.heatmap.timeframe import reconstruct_on

        if hasattr(market, "markets"):  # a universe (liqbt.sweep.universe): one heatmap per symbol, own key
            return [self.get(m, fp, params) for m, fp in zip(market.markets, market.fingerprints, strict=True)]
        key = heatmap_key(fingerprint, params)
        if key in self._mem:
            return self._mem[key]
        path = self.path(key)
        hm = None
        if path is not None and path.is_file():
            try:
                hm = load_heatmap(path)
                self.loads += 1
                log.info("heatmap cache hit %s", path.name)
            except (OSError, ValueError, KeyError) as exc:  # a damaged file is rebuilt, not trusted
                log.warning("heatmap cache file %s unreadable (%s); rebuilding", path, exc)
                hm = None
        if hm is None:
            hm = reconstruct_on(market, params)  # honours [heatmap].interval
            self.builds += 1
            if path is not None:
                save_heatmap(hm, path)
        if len(self._mem) >= self.max_memory:
            self._mem.pop(next(iter(self._mem)))
        self._mem[key] = hm
        return hm
