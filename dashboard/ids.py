"""Every component id of the dashboard, in one place (callbacks, layout and tests import these)."""

# --- page state -------------------------------------------------------------
URL = "url"
CONFIG = "config-store"          # the valid Config, as JSON (the one source of truth downstream)
CRITICAL = "critical-store"      # critical points and ρ̂ of the current landscape
POINT = "point-store"            # the last clicked latent point
DESCENT = "descent-store"        # paths of the last descent (click or random starts)
BASINS = "basins-store"          # the basin map being filled in chunks
LAND_KEY = "land-key-store"      # what the landscape contour currently shows (grid and scale)
SURF_KEY = "surf-key-store"      # what the landscape surface currently shows
DESC_KEY = "desc-key-store"      # what the descent contour currently shows
DESC_SURF_KEY = "desc-surf-key-store"  # what the descent surface currently shows
# {config, scale} for the views behind tabs 2–4 and 6, set only while their tab is shown, so a
# control change computes only the visible view (and a tab computes once per config).
VIEW_DESCENT = "view-descent-store"
VIEW_COMPARE = "view-compare-store"
VIEW_COLLAPSE = "view-collapse-store"
VIEW_IMAGES = "view-images-store"

# --- controls: one per Config field the user can set --------------------------
PRESET = "preset"
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
Z_STAR = "z-star"
GRID = "grid"
EXTENT = "extent"
EPS = "eps"
METHOD = "method"
LR = "lr"
STEPS = "steps"
STARTS = "starts"
START_SEED = "start-seed"

# View options that are not part of Config (they still travel in the URL).
SCALE = "scale"
CLICK_MODE = "click-mode"
TABS = "tabs"

# Config field → its control id. Order is the order of the sync callback's inputs.
FIELD_CONTROLS = {
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
    "z_star": Z_STAR,
    "grid": GRID,
    "extent": EXTENT,
    "eps": EPS,
    "method": METHOD,
    "lr": LR,
    "steps": STEPS,
    "starts": STARTS,
    "start_seed": START_SEED,
}


def err(control_id: str) -> str:
    """Id of the message shown next to a control."""
    return f"err-{control_id}"


CONFIG_ERROR = "err-config"      # messages about fields without a control, and about the URL
MASK_IMAGE = "mask-image"

# --- view 1: landscape --------------------------------------------------------
LAND_SURFACE = "land-surface"
LAND_CONTOUR = "land-contour"
RHO_TEXT = "rho-text"
CRITICAL_TEXT = "critical-text"
LAND_COUNTS = "land-counts"

# --- view 2: descent ----------------------------------------------------------
DESC_CONTOUR = "desc-contour"
DESC_SURFACE = "desc-surface"
DESC_RANDOM = "desc-random"
DESC_CLEAR = "desc-clear"
DESC_COUNTS = "desc-counts"
DESC_SLIDER = "desc-slider"
DESC_PLAY = "desc-play"
DESC_INTERVAL = "desc-interval"
DESC_ITER_TEXT = "desc-iter-text"

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

# --- downloads ----------------------------------------------------------------------
DL_NPZ = "dl-npz"
DL_CSV = "dl-csv"
DL_JSON = "dl-json"
DL_PNG = "dl-png"
DL_HTML = "dl-html"
DOWNLOAD = "download"
DL_ERROR = "dl-error"

# Tab values.
TAB_LANDSCAPE = "landscape"
TAB_DESCENT = "descent"
TAB_COMPARE = "compare"
TAB_COLLAPSE = "collapse"
TAB_BASINS = "basins"
TAB_IMAGES = "images"
# Tabs whose page lives in its own module under dashboard/pages (see pages.PAGES).
TAB_PHASE = "phase"
TAB_EXPECTED = "expected"
TAB_INPAINT = "inpainting"
TAB_WEIGHTS = "weights"
TAB_VALUES = (TAB_LANDSCAPE, TAB_DESCENT, TAB_COMPARE, TAB_COLLAPSE, TAB_BASINS, TAB_IMAGES,
              TAB_PHASE, TAB_EXPECTED, TAB_INPAINT, TAB_WEIGHTS)
VIEW_STORES = {TAB_DESCENT: VIEW_DESCENT, TAB_COMPARE: VIEW_COMPARE, TAB_COLLAPSE: VIEW_COLLAPSE,
               TAB_IMAGES: VIEW_IMAGES}
