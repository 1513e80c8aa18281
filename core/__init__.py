"""Core of the invertibility explorer: pure torch / numpy computation, no plotting.

Glossary (paper symbol → code name, shape, where in the paper):

==========  ===============================  ====================  =================================
symbol      code                             shape                 paper
==========  ===============================  ====================  =================================
z*          ``Problem.z_star``               (n0,)                 Sec. 2, latent code
W_i         ``Generator.W{i}``               (C_{i-1}, C_i, k[,k]) eq. (2), transposed convolutions
σ           ``Config.activation``            —                     eq. (2), entrywise
G(z)        ``Generator.forward``            (B, C_d, *spatial)    eq. (2)
x*          ``Problem.x_star``               (C_d, *spatial)       x* = G(z*)
A           ``SamplingOperator.A``           n → m                 Sec. 2, rows of the identity
y           ``Problem.y``                    (m,)                  y* = A x*
J(z)        ``Engine.J``                     (B,)                  eq. (3), ½‖y − A G(z)‖²
r           ``Config.rate``                  —                     Thm. 4, r = m / (C_d D_d)
ρ_d         ``theory.rho``                   —                     Thm. 1 (Hand & Voroninski)
h(z)        ``theory.expected_gradient``     (…, n0)               Hand & Voroninski, E[∇J]
ε           ``Config.eps``                   —                     Thm. 1, B(z*, ε‖z*‖)
==========  ===============================  ====================  =================================
"""
from .config import LIMITS, PRESETS, Config, ConfigError, from_preset
from .problem import Problem, build_problem, images

__all__ = ["LIMITS", "PRESETS", "Config", "ConfigError", "from_preset", "Problem", "build_problem", "images"]
