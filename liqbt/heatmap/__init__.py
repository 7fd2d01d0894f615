"""Point-in-time liquidation heatmap: model (brackets, LP formulas), numba kernel, Heatmap object.

>>> from liqbt.heatmap import HeatmapParams, Heatmap, reconstruct
>>> HeatmapParams().bin_bps
10.0
"""

from liqbt.heatmap.heatmap import Heatmap, reconstruct
from liqbt.heatmap.model import HeatmapParams

__all__ = ["Heatmap", "HeatmapParams", "reconstruct"]
