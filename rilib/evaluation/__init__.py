"""Evaluation shared by the chapters: statistics a verdict reads (``stats``) and their intervals (``intervals``).

Later chapters add ROAR/KAR, d_π and the localisation metrics here.
"""
from .intervals import Interval, bootstrap, percentile_interval
from .stats import fraction_greater, median, min_pairwise_spearman, pearson, quadratic_coefficient, spearman

__all__ = ["Interval", "bootstrap", "percentile_interval", "median", "spearman", "pearson", "quadratic_coefficient", "fraction_greater",
           "min_pairwise_spearman"]
