"""Pages with their own layout and callbacks, shown as extra tabs of the main app.

Each module exposes ``layout()`` and ``register_callbacks(app)``; its component ids carry a
prefix of its own, so pages never collide with each other or with the main views.
"""
from .. import ids
from . import expected, inpainting, phase, weights

# (tab value, tab label, module)
PAGES = (
    (ids.TAB_PHASE, "Phase transition", phase),
    (ids.TAB_EXPECTED, "Expected J", expected),
    (ids.TAB_INPAINT, "Inpainting (MNIST)", inpainting),
    (ids.TAB_WEIGHTS, "Trained weights", weights),
)
