"""Wang et al. (2022), "Robust models are more interpretable because attributions look normal": boundary
attributions (BSM, BIG), the boundary search, and the smoothing theory — models, jobs and claim statistics."""
