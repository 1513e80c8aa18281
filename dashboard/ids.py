"""Every component id of the dashboard, in one place (callbacks, layout, pages and tests import these).

Ids of the pages behind the last tabs carry their page's prefix (``phase-``, ``expected-``,
``inpaint-``, ``weights-``), so pages never collide with each other or with the main views.
"""

# --- page state -------------------------------------------------------------
URL = "url"
CONFIG = "config-store"          # the valid Config, as JSON (the one source of truth downstream)
CRITICAL = "critical-store"      # critical points and ρ̂ of the current landscape
CRITICAL_LATER = "critical-later-store"   # the landscape key whose costly critical points are computed after its surface
TAB_ID = "tab-id-store"          # this page's random id, given by its first sync (priority.Latest)
POINT = "point-store"            # the last clicked latent point
DESCENT = "descent-store"        # paths of the last descent (click or random starts)
BASINS = "basins-store"          # the basin map being filled (a job of dashboard.jobs)
LAND_KEY = "land-key-store"      # what the landscape contour currently shows (grid and scale)
MASK_KEY = "mask-key-store"         # the config, set in the browser on tabs without the landscape (mask picture)
VIEW_SYNC = "view-sync-store"    # set by the sync when the tab stores, the pages' URL slices or MASK_KEY may change
LAND_PAINTED = "land-painted-store"  # LAND_KEY once the browser has painted that contour (follow-ups start)
SURF_KEY = "surf-key-store"      # what the landscape surface currently shows
DESC_KEY = "desc-key-store"      # what the descent contour currently shows
DESC_SURF_KEY = "desc-surf-key-store"  # what the descent surface currently shows
OVERLAY_INFO = "overlay-info-store"    # static: overlay trace indices and colours, for the browser's playback
# {config, scale} for the views behind tabs 2–4 and 6, set only while their tab is shown, so a
# control change computes only the visible view (and a tab computes once per config).
VIEW_DESCENT = "view-descent-store"
VIEW_COMPARE = "view-compare-store"
VIEW_COLLAPSE = "view-collapse-store"
VIEW_IMAGES = "view-images-store"

BANNER = "banner"                # one line at the top: a bad URL or a refused request
SIDEBAR = "sidebar"
FAMILY_BOX = "family-box"        # the random family's controls (hidden for other generators)

# --- controls: one per Config field the user can set --------------------------
PRESET = "preset"
GENERATOR_KIND = "generator-kind"     # conv / a shipped generator / "custom"
GENERATOR_TEXT = "generator-text"     # the SPEC, when the kind is "custom"
LATENT_DIM = "latent-dim"
LABEL = "label"
DIM = "dim"
CHANNELS = "channels"
KERNEL = "kernel"
STRIDE = "stride"
ACTIVATION = "activation"
NEGATIVE_SLOPE = "negative-slope"
WEIGHTS = "weights"
WEIGHT_STD_KIND = "weight-std-kind"   # unit / paper / number
WEIGHT_STD = "weight-std"             # the number, when the kind is "number"
WEIGHT_SEED = "weight-seed"
MASK = "mask"
RATE = "rate"
MASK_SEED = "mask-seed"
NOISE_KIND = "noise-kind"             # none / gaussian / quantize
NOISE_LEVEL = "noise-level"           # σ or bits
NOISE_SEED = "noise-seed"
Z_STAR = "z-star"
Z_SEED = "z-seed"
GRID = "grid"
EXTENT = "extent"
PLANE = "plane"
EPS = "eps"
METHOD = "method"
LR = "lr"
DAMPING = "damping"
NEGATE = "negate"
TOL = "tol"
STEPS = "steps"
STARTS = "starts"
START_SEED = "start-seed"

# View options that are not part of Config (they still travel in the URL).
SCALE = "scale"
CLICK_MODE = "click-mode"
TABS = "tabs"

# Config field → its control id. Order is the order of the sync callback's inputs. The
# ``*_kind`` / ``*_text`` / ``*_level`` entries are two controls that make one field.
FIELD_CONTROLS = {
    "generator_kind": GENERATOR_KIND,
    "generator_text": GENERATOR_TEXT,
    "latent_dim": LATENT_DIM,
    "label": LABEL,
    "dim": DIM,
    "channels": CHANNELS,
    "kernel": KERNEL,
    "stride": STRIDE,
    "activation": ACTIVATION,
    "negative_slope": NEGATIVE_SLOPE,
    "weights": WEIGHTS,
    "weight_std_kind": WEIGHT_STD_KIND,
    "weight_std": WEIGHT_STD,
    "weight_seed": WEIGHT_SEED,
    "mask": MASK,
    "rate": RATE,
    "mask_seed": MASK_SEED,
    "noise_kind": NOISE_KIND,
    "noise_level": NOISE_LEVEL,
    "noise_seed": NOISE_SEED,
    "z_star": Z_STAR,
    "z_seed": Z_SEED,
    "grid": GRID,
    "extent": EXTENT,
    "plane": PLANE,
    "eps": EPS,
    "method": METHOD,
    "lr": LR,
    "damping": DAMPING,
    "negate": NEGATE,
    "tol": TOL,
    "steps": STEPS,
    "starts": STARTS,
    "start_seed": START_SEED,
}
# Where the message about a Config field goes (fields made of two controls, and fields whose
# control is a pair).
FIELD_MESSAGE = {**FIELD_CONTROLS, "generator": GENERATOR_KIND, "noise": NOISE_KIND, "weight_std": WEIGHT_STD_KIND}


def url_slice(prefix: str) -> str:
    """The store holding the URL's items of the page with ``prefix`` (``phase.`` → ``phase-url-store``)."""
    return prefix.rstrip(".") + "-url-store"


def err(control_id: str) -> str:
    """Id of the message shown next to a control."""
    return f"err-{control_id}"


CONFIG_ERROR = "err-config"      # messages about fields without a control
# {message id: text} of the message lines shown; the sync writes it only when it changes and a
# clientside callback fans it out to the lines (the sync then has one output for them, not 34).
ERRORS = "errors-store"
MASK_IMAGE = "mask-image"

# --- view 1: landscape --------------------------------------------------------
LAND_SURFACE = "land-surface"
LAND_CONTOUR = "land-contour"
RHO_TEXT = "rho-text"
CRITICAL_TEXT = "critical-text"
LAND_COUNTS = "land-counts"
PLANE_TEXT = "plane-text"        # the plane's explanation and its directions d1, d2
INJ_TOGGLE = "inj-toggle"        # show the injectivity map σ_min (computed only while ticked)
INJ_BOX = "inj-box"
INJ_GRAPH = "inj-graph"
INJ_TEXT = "inj-text"

# --- view 2: descent ----------------------------------------------------------
DESC_CONTOUR = "desc-contour"
DESC_SURFACE = "desc-surface"
DESC_RANDOM = "desc-random"
DESC_CLEAR = "desc-clear"
DESC_COUNTS = "desc-counts"
DESC_WARNING = "desc-warning"
DESC_SLIDER = "desc-slider"
DESC_PLAY = "desc-play"
DESC_ITER_TEXT = "desc-iter-text"
DESC_FRAME_SYNC = "desc-frame-sync"   # dummy output of the clientside frame callback
DESC_PAIR_BOX = "desc-pair-box"
DESC_PAIR = "desc-pair"
DESC_PAIR_TEXT = "desc-pair-text"
DESC_BUDGET_RUN = "desc-budget-run"
DESC_BUDGET = "desc-budget"
DESC_BUDGET_TEXT = "desc-budget-text"

# --- view 3: compare ------------------------------------------------------------
COMPARE = "compare-graph"
COMPARE_SYNC = "compare-sync"    # dummy output of the camera-sync clientside callback

# --- view 4: mode collapse ------------------------------------------------------
COLLAPSE_SOURCE = "collapse-source"
COLLAPSE_GRAPH = "collapse-graph"
COLLAPSE_WITNESS = "collapse-witness"
COLLAPSE_TEXT = "collapse-text"

# --- view 5: basins ---------------------------------------------------------------
BASIN_GRID = "basin-grid"
BASIN_START = "basin-start"
BASIN_CANCEL = "basin-cancel"
BASIN_INTERVAL = "basin-interval"
BASIN_PROGRESS = "basin-progress"
BASIN_TEXT = "basin-text"
BASIN_GRAPH = "basin-graph"

# --- view 6: linked images --------------------------------------------------------
IMG_CONTOUR = "img-contour"
IMG_GRAPH = "img-graph"
IMG_TEXT = "img-text"

# --- page: phase transition ----------------------------------------------------------
PHASE_EXAMPLE = "phase-example"
PHASE_GENERATOR = "phase-generator"
PHASE_CHANNELS = "phase-channels"
PHASE_NOISE = "phase-noise"
PHASE_TOL = "phase-tol"
PHASE_METHOD = "phase-method"
PHASE_STEPS = "phase-steps"
PHASE_PATTERNS = "phase-patterns"
PHASE_RATES = "phase-rates"
PHASE_TRIALS = "phase-trials"
PHASE_RESTARTS = "phase-restarts"
PHASE_START = "phase-start"
PHASE_CANCEL = "phase-cancel"
PHASE_INTERVAL = "phase-interval"
PHASE_STORE = "phase-store"
PHASE_PROGRESS = "phase-progress"
PHASE_STATUS = "phase-status"
PHASE_ERROR = "phase-error"
PHASE_GRAPH = "phase-graph"

# --- page: expected landscape ------------------------------------------------------------
EXPECTED_PRESET = "expected-preset"
EXPECTED_WIDTH = "expected-width"
EXPECTED_GRID = "expected-grid"
EXPECTED_MC = "expected-mc"
EXPECTED_K = "expected-k"        # nets of the ray's Monte Carlo (capped by the page's work bound)
EXPECTED_HEATMAPS = "expected-heatmaps"
EXPECTED_RAY = "expected-ray"
EXPECTED_HIST = "expected-hist"
EXPECTED_STATUS = "expected-status"
EXPECTED_ERROR = "expected-error"

# --- page: inpainting --------------------------------------------------------------------
INPAINT_GENERATOR = "inpaint-generator"
INPAINT_SOURCE = "inpaint-source"
INPAINT_LABEL = "inpaint-label"
INPAINT_SEED = "inpaint-seed"
INPAINT_DRAW = "inpaint-draw"
INPAINT_MASK = "inpaint-mask"
INPAINT_RATE = "inpaint-rate"
INPAINT_METHOD = "inpaint-method"
INPAINT_LR = "inpaint-lr"
INPAINT_DAMPING = "inpaint-damping"
INPAINT_NEGATE = "inpaint-negate"
INPAINT_STEPS = "inpaint-steps"
INPAINT_IMAGES = "inpaint-images"
INPAINT_CURVE = "inpaint-curve"
INPAINT_SLICES = "inpaint-slices"
INPAINT_SUMMARY = "inpaint-summary"
INPAINT_ERROR = "inpaint-error"

# --- page: trained weights ---------------------------------------------------------------
WEIGHTS_GENERATOR = "weights-generator"
WEIGHTS_HISTOGRAMS = "weights-histograms"
WEIGHTS_TABLE = "weights-table"

# --- downloads ----------------------------------------------------------------------
DL_NPZ = "dl-npz"
DL_CSV = "dl-csv"
DL_JSON = "dl-json"
DL_PNG = "dl-png"
DL_HTML = "dl-html"
DOWNLOAD = "download"
DL_ERROR = "dl-error"
DL_PNG_SYNC = "dl-png-sync"      # dummy output of the clientside PNG export

# Tab values.
TAB_LANDSCAPE = "landscape"
TAB_DESCENT = "descent"
TAB_COMPARE = "compare"
TAB_COLLAPSE = "collapse"
TAB_BASINS = "basins"
TAB_IMAGES = "images"
TAB_PHASE = "phase"
TAB_EXPECTED = "expected"
TAB_INPAINT = "inpainting"
TAB_WEIGHTS = "weights"
TAB_VALUES = (TAB_LANDSCAPE, TAB_DESCENT, TAB_COMPARE, TAB_COLLAPSE, TAB_BASINS, TAB_IMAGES,
              TAB_PHASE, TAB_EXPECTED, TAB_INPAINT, TAB_WEIGHTS)
# Tabs whose page has its own controls: the sidebar is hidden there.
OWN_CONTROLS = (TAB_PHASE, TAB_EXPECTED, TAB_INPAINT, TAB_WEIGHTS)
VIEW_STORES = {TAB_DESCENT: VIEW_DESCENT, TAB_COMPARE: VIEW_COMPARE, TAB_COLLAPSE: VIEW_COLLAPSE,
               TAB_IMAGES: VIEW_IMAGES}
# The graphs of each tab, the first one its main figure (figure PNG / HTML downloads).
TAB_GRAPHS = {
    TAB_LANDSCAPE: (LAND_CONTOUR, LAND_SURFACE, INJ_GRAPH),
    TAB_DESCENT: (DESC_CONTOUR, DESC_SURFACE, DESC_BUDGET, DESC_PAIR),
    TAB_COMPARE: (COMPARE,),
    TAB_COLLAPSE: (COLLAPSE_GRAPH, COLLAPSE_WITNESS),
    TAB_BASINS: (BASIN_GRAPH,),
    TAB_IMAGES: (IMG_GRAPH, IMG_CONTOUR),
    TAB_PHASE: (PHASE_GRAPH,),
    TAB_EXPECTED: (EXPECTED_HEATMAPS, EXPECTED_RAY, EXPECTED_HIST),
    TAB_INPAINT: (INPAINT_IMAGES, INPAINT_CURVE, INPAINT_SLICES),
    TAB_WEIGHTS: (WEIGHTS_HISTOGRAMS,),
}
