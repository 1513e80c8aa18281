"""Every figure builder of the dashboard, pure functions: arrays and plain dicts in, ``go.Figure`` out.

No Dash, no core calls, no state; the tests compare the trace dicts they return.

- :mod:`.landscape`: contour, surface and their overlays, compare, images, mask, collapse, basins.
- :mod:`.solvers`: what the Descent view adds: the other-fit pair and the budget curves.
- :mod:`.experiments`: the Phase and Expected J pages.
- :mod:`.trained`: the Inpainting and Trained weights pages.
- :mod:`.injectivity`: σ_min of A·∂G/∂z beside J (the Landscape view's injectivity map).
"""
from .landscape import *  # noqa: F401,F403
from .landscape import OUTCOME_COLORS, OUTCOME_NAMES, OVERLAY_INDEX, OVERLAYS, Marks  # noqa: F401
from .solvers import budget_figure, pair_figure  # noqa: F401
from .injectivity import injectivity_figure, sigma_floor  # noqa: F401
