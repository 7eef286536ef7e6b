"""Evaluation shared by the chapters: statistics a verdict reads (``stats``), their intervals (``intervals``) and
the masks, occlusion, curves and scores of the ROAR / KAR benchmark of attributions (``roar``; the retrainings
themselves are :mod:`rilib.retrain`) and the localisation metrics of attributions against bounding boxes
(``localisation``: Loc, EG, PP, Con and GT-Loc of Wang et al. 2022; numpy only).

Later chapters add d_π here.
"""
from .intervals import (Interval, bootstrap, bootstrap_independent, normal_interval, percentile_interval,
                        proportion_interval, ratio_interval, t_interval, welch_interval)
from .localisation import (GT_LOC_MODES, box_iou, box_masks, concentration, energy_game, gt_loc, gt_loc_iou,
                           loc, localisation_scores, positive_proportion, predicted_box, quantus_crosscheck)
from .stats import fraction_greater, median, min_pairwise_spearman, pearson, quadratic_coefficient, spearman

__all__ = ["Interval", "bootstrap", "bootstrap_independent", "percentile_interval", "t_interval", "welch_interval",
           "normal_interval", "ratio_interval", "proportion_interval", "median", "spearman", "pearson", "quadratic_coefficient", "fraction_greater",
           "min_pairwise_spearman", "FRACTIONS", "MODES", "n_removed", "pixel_ranks", "mask_from_ranks", "rank_mask",
           "apply_mask", "occlude", "channel_mean", "full_curve", "curve_area", "roar_kar_scores",
           "GT_LOC_MODES", "box_masks", "loc", "energy_game", "positive_proportion", "concentration",
           "localisation_scores", "predicted_box", "box_iou", "gt_loc_iou", "gt_loc", "quantus_crosscheck"]

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
