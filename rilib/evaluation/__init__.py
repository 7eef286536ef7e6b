"""Evaluation shared by the chapters: statistics a verdict reads (``stats``), their intervals (``intervals``) and
the masks, occlusion, curves and scores of the ROAR / KAR benchmark of attributions (``roar``; the retrainings
themselves are :mod:`rilib.retrain`).

Later chapters add d_π and the localisation metrics here.
"""
from .intervals import (Interval, bootstrap, normal_interval, percentile_interval, proportion_interval,
                        ratio_interval, t_interval, welch_interval)
from .stats import fraction_greater, median, min_pairwise_spearman, pearson, quadratic_coefficient, spearman

__all__ = ["Interval", "bootstrap", "percentile_interval", "t_interval", "welch_interval", "normal_interval",
           "ratio_interval", "proportion_interval", "median", "spearman", "pearson", "quadratic_coefficient", "fraction_greater",
           "min_pairwise_spearman", "FRACTIONS", "MODES", "n_removed", "pixel_ranks", "mask_from_ranks", "rank_mask",
           "apply_mask", "occlude", "channel_mean", "full_curve", "curve_area", "roar_kar_scores"]

#: names re-exported from :mod:`rilib.evaluation.roar`, imported on first use: ``import rilib.evaluation`` (e.g. by
#: :mod:`rilib.results` for :class:`Interval`) stays free of torch and the training code
_ROAR_NAMES = ("FRACTIONS", "MODES", "n_removed", "pixel_ranks", "mask_from_ranks", "rank_mask", "apply_mask",
               "occlude", "channel_mean", "full_curve", "curve_area", "roar_kar_scores")


def __getattr__(name: str):
    if name in _ROAR_NAMES:
        from . import roar

        return getattr(roar, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
