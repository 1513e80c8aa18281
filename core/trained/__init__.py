"""Trained generators: the paper's MNIST conditional DCGAN (Fig. 5), inversion, weight statistics (Fig. 3).

One job per module:

==================  ===================================================================
``idx``             read the IDX ``.gz`` files (no download), bilinear resize to 32×32
``dcgan``           conditional generator / discriminator, checked loading of weights
``train``           seeded CPU training script, model card, sample sheet
``classifier``      small CNN that judges generated samples
``invert``          batched Adam inversion from partial measurements, PSNR, latent slices
``stats``           per-layer weight histograms, fitted zero-mean Gaussian, KS distance
``demo``            one inpainting example with J slices (the dashboard's page calls it)
``report``          the README tables (``docs/inversion_table.md``, ``docs/weight_stats.md``)
``png``             a standard-library PNG writer for the sample sheets
``cli``             ``python -m core invert``
==================  ===================================================================

Glossary (paper symbol → code name, shape):

==========  =========================  =============================================
z*          ``z_star``                 (T, 10), N(0, I)
c           ``labels``                 (T,), class that conditions G
G(z, c)     ``Generator.forward``      (B, 1, 32, 32) in (−1, 1)
W_i         ``Generator.convs[i-1]``   (C_{i−1}, C_i, 4, 4)
A           ``SamplingOperator.A``     (1, 32, 32) → m
y           ``y``                      (T, m)
J(z)        ``invert.J``               (B,), ½‖y − A G(z, c)‖² (eq. 3)
ẑ           ``z_hat``                  (T, 10)
==========  =========================  =============================================
"""
