"""Noack, Ahern, Dou & Li (2021), *Does Interpretability of Neural Networks Imply Adversarial Robustness?*

``cohort``    the nets of Tables 1–3: per dataset and seed one net per regime (std, adv, jacobian, ir-r, ir-r-perm,
              ir-nr; on the Fashion-MNIST substitute std, adv, jacobian, ir), their zoo specs
``targets``   thresholded SmoothGrad targets of interpretation regularisation (eq. (4)), cached per teacher
``build``     every model in dependency order, with the paper's calibration rules (λ_J, the substitute's ε and λ)
``jobs``      per-model evaluations: robustness, the gradient-masking check, gradient norms, eqs. (8)–(9)
``claims``    the statistics the chapter's verdicts read
"""
