"""The page: a banner, a sidebar of controls (each with its message line) and the views in tabs."""
from __future__ import annotations

from dash import dcc, html

from core.config import ACTIVATIONS, MASKS, METHODS, SHIPPED, WEIGHT_LAWS
from core.diagnosis import CONTINUE_ROUNDS

from .pages import PAGES
from . import figures, ids, state
from .components import loading
from .planes import PLANE_OPTIONS

GRAPH_CONFIG = {"displaylogo": False, "scrollZoom": False}
METHOD_OPTIONS = [{"label": " L-BFGS", "value": "lbfgs"}, {"label": " Gauss–Newton", "value": "gauss_newton"},
                  {"label": " Adam", "value": "adam"}, {"label": " GD", "value": "gd"}]
assert [o["value"] for o in METHOD_OPTIONS] == list(METHODS)
GENERATOR_OPTIONS = ([{"label": "conv: random transposed-conv family", "value": "conv"}]
                     + [{"label": f"{g}: shipped DCGAN", "value": g} for g in SHIPPED]
                     + [{"label": "your own (SPEC below)", "value": "custom"}])


def _err(control_id: str) -> html.Div:
    return html.Div(id=ids.err(control_id), className="error")


def _text(control_id: str, value: str, placeholder: str = "", disabled: bool = False) -> dcc.Input:
    # debounce: the value is sent on Enter or when the field loses focus, not on every key.
    return dcc.Input(id=control_id, type="text", value=value, debounce=True, placeholder=placeholder,
                     className="text-input", autoComplete="off", disabled=disabled)


# What the sidebar shows for a generator source and a solver method: the layout's first state, and the
# tables of the clientside callbacks that follow a change (callbacks.py). The page load runs no
# callback for them (each one a page load starts costs the browser its bookkeeping before the first
# contour is drawn).
HIDE = {"display": "none"}


def generator_boxes(kind: str) -> list:
    """Styles of the family box, the module box and the class box for the generator source ``kind``."""
    return [{} if kind == "conv" else HIDE, {} if kind == "custom" else HIDE,
            {} if kind in SHIPPED else HIDE]   # the shipped DCGANs are conditional: a class to choose


def solver_fields(method: str) -> list:
    """Whether the step field and the damping field are disabled for the solver ``method``."""
    return [method not in ("adam", "gd"), method != "gauss_newton"]


def _field(label: str, control, control_id: str, hint: str = "") -> html.Div:
    return html.Div(className="field", children=[
        html.Label(label, htmlFor=control_id, title=hint),
        control,
        _err(control_id),
    ])


def _section(title: str, *children, open_: bool = True) -> html.Details:
    return html.Details(open=open_, className="section", children=[html.Summary(title), *children])


def _dropdown(control_id: str, options, value) -> dcc.Dropdown:
    return dcc.Dropdown(id=control_id, options=[{"label": o, "value": o} if isinstance(o, str) else o for o in options],
                        value=value, clearable=False, searchable=False, className="dropdown")


def sidebar(v: dict) -> html.Div:
    """The controls, filled with the values ``v`` (see state.controls_from_config)."""
    lim = state.DASH_LIMITS
    family, module, label = generator_boxes(v["generator_kind"])
    lr_off, damping_off = solver_fields(v["method"])
    return html.Div(id=ids.SIDEBAR, className="sidebar", children=[
        _field("Preset", dcc.Dropdown(id=ids.PRESET, options=[{"label": p, "value": p} for p in state.PRESET_NAMES],
                                      value=state.DEFAULT_PRESET, clearable=False, searchable=False,
                                      placeholder="custom", className="dropdown"), ids.PRESET),
        _section(
            "Generator G",
            _field("Source", _dropdown(ids.GENERATOR_KIND, GENERATOR_OPTIONS, v["generator_kind"]), ids.GENERATOR_KIND,
                   "the random family of the paper's Fig. 4, a shipped trained DCGAN, or your own module"),
            html.Div(id=ids.GENERATOR_TEXT + "-box", style=module, children=[
                _field("SPEC (runs its code)", _text(ids.GENERATOR_TEXT, v["generator_text"],
                                                     "G.pt, weights.pth or package.module:callable"),
                       ids.GENERATOR_TEXT, "a TorchScript file, a state dict of the shipped DCGAN, or "
                                           "package.module:callable returning an nn.Module; press Enter to load"),
                _field("n0 (if the module has no latent_dim)", _text(ids.LATENT_DIM, v["latent_dim"], "0"),
                       ids.LATENT_DIM, "0: read the module's latent_dim attribute"),
            ]),
            html.Div(id=ids.LABEL + "-box", style=label, children=[
                _field("Class c (conditional generators)", dcc.Dropdown(
                    id=ids.LABEL, options=[{"label": "drawn from the z* seed", "value": -1}]
                    + [{"label": str(c), "value": c} for c in range(10)], value=v["label"], clearable=False,
                    searchable=False, className="dropdown"), ids.LABEL),
            ]),
            html.Div(id=ids.FAMILY_BOX, style=family, children=[
                _field("Dimension of the convolutions", dcc.RadioItems(
                    id=ids.DIM, options=[{"label": " 1-D", "value": 1}, {"label": " 2-D", "value": 2}],
                    value=v["dim"], inline=True, className="radio"), ids.DIM),
                _field("Channels n0, C1, …, Cd", _text(ids.CHANNELS, v["channels"], "2,16,1"), ids.CHANNELS,
                       "comma-separated; the first is the latent dimension n0"),
                html.Div(className="pair", children=[
                    _field("Kernel", _text(ids.KERNEL, v["kernel"], "5 or 5,5"), ids.KERNEL,
                           "one value for all layers or one per layer, 1–15"),
                    _field("Stride", _text(ids.STRIDE, v["stride"], "3"), ids.STRIDE,
                           "one value for all layers or one per layer, 1–15"),
                ]),
                html.Div(className="pair", children=[
                    _field("Activation σ", _dropdown(ids.ACTIVATION, ACTIVATIONS, v["activation"]), ids.ACTIVATION),
                    _field("Leaky slope", _text(ids.NEGATIVE_SLOPE, v["negative_slope"], "0.2"), ids.NEGATIVE_SLOPE,
                           "slope of leaky ReLU for z < 0, in [0, 1]"),
                ]),
                _field("Weight law", _dropdown(ids.WEIGHTS, WEIGHT_LAWS, v["weights"]), ids.WEIGHTS),
                _field("Weight scale", dcc.RadioItems(
                    id=ids.WEIGHT_STD_KIND, options=[{"label": " unit N(0,1)", "value": "unit"},
                                                     {"label": " paper 1/√(C k^dim)", "value": "paper"},
                                                     {"label": " number", "value": "number"}],
                    value=v["weight_std_kind"], inline=True, className="radio"), ids.WEIGHT_STD_KIND),
                html.Div(className="pair", children=[
                    _field("Scale number", _text(ids.WEIGHT_STD, v["weight_std"], "1.0"), ids.WEIGHT_STD,
                           "used when the scale is 'number'; in (0, 1000]"),
                    _field("Weight seed", _text(ids.WEIGHT_SEED, v["weight_seed"], "0"), ids.WEIGHT_SEED),
                ]),
            ]),
        ),
        _section(
            "Observation y = A G(z*) + noise",
            html.Div(className="pair", children=[
                _field("Mask", _dropdown(ids.MASK, MASKS, v["mask"]), ids.MASK),
                _field("Rate r", _text(ids.RATE, v["rate"], "0.5"), ids.RATE, "sampling rate m/n in (0, 1]"),
            ]),
            html.Div(className="pair", children=[
                _field("Mask seed", _text(ids.MASK_SEED, v["mask_seed"], "0"), ids.MASK_SEED),
                html.Div(className="field", children=[
                    html.Label("Mask (channel 1; white = observed)"),
                    dcc.Graph(id=ids.MASK_IMAGE, config={"displayModeBar": False, "staticPlot": True},
                              style={"height": "110px", "width": "140px"}),
                ]),
            ]),
            html.Div(className="pair", children=[
                _field("Noise", _dropdown(ids.NOISE_KIND, [{"label": "none", "value": "none"},
                                                           {"label": "gaussian σ", "value": "gaussian"},
                                                           {"label": "quantize bits", "value": "quantize"}],
                                          v["noise_kind"]), ids.NOISE_KIND,
                       "gaussian: y + N(0, σ²); quantize: y rounded to 2^bits levels over G's output range"),
                _field("σ or bits", _text(ids.NOISE_LEVEL, v["noise_level"], "0.01 or 8"), ids.NOISE_LEVEL,
                       "σ in (0, 1000]; bits in [1, 24]"),
            ]),
            _field("Noise seed", _text(ids.NOISE_SEED, v["noise_seed"], "0"), ids.NOISE_SEED,
                   "draws the gaussian noise over the whole output; a trial's noise seed opens its y"),
        ),
        _section(
            "Ground truth z*",
            html.Div(className="pair", children=[
                _field("z*", _text(ids.Z_STAR, v["z_star"], "empty: from the seed"), ids.Z_STAR,
                       "comma-separated, n0 entries, ‖z*‖ ≥ 1e-6"),
                _field("z* seed", _text(ids.Z_SEED, v["z_seed"], "0"), ids.Z_SEED,
                       "draws z* (and the class) when z* is empty; an inversion's trial_seed opens that draw"),
            ]),
            dcc.Checklist(id=ids.CLICK_MODE, options=[{"label": " a click on a landscape sets z*", "value": "z"}],
                          value=[], className="checklist"),
        ),
        _section(
            "Grid and view",
            html.Div(className="pair", children=[
                _field(f"Grid (≤ {lim['grid'][1]})", _text(ids.GRID, v["grid"], "201"), ids.GRID,
                       f"points per side, {lim['grid'][0]}–{lim['grid'][1]}"),
                _field("Window ±", _text(ids.EXTENT, v["extent"], "3.0"), ids.EXTENT,
                       "half-width of the window, in latent units; centred on z* (n0 = 2) or on 0"),
            ]),
            html.Div(className="pair", children=[
                _field("Colour scale", dcc.RadioItems(
                    id=ids.SCALE, options=[{"label": " log", "value": "log"}, {"label": " linear", "value": "linear"}],
                    value=state.VIEW_DEFAULTS["scale"], inline=True, className="radio"), ids.SCALE),
                _field("ε (balls)", _text(ids.EPS, v["eps"], "0.15"), ids.EPS,
                       "radius factor of B(z*, ε‖z*‖) and B(−ρ z*, ε‖z*‖), in (0, 1)"),
            ]),
            _field("Plane of the landscape", _dropdown(ids.PLANE, PLANE_OPTIONS, v["plane"]), ids.PLANE,
                   "the 2-D plane of the latent space on which J is drawn (core.planes); endpoint and pca "
                   "need a descent (random starts)"),
        ),
        _section(
            "Solver (descent and basins)",
            _field("Method", dcc.RadioItems(id=ids.METHOD, options=METHOD_OPTIONS, value=v["method"], inline=True,
                                            className="radio"), ids.METHOD),
            html.Div(className="pair", children=[
                _field("Step lr (Adam, GD)", _text(ids.LR, v["lr"], "0.1", lr_off), ids.LR,
                       "Adam's learning rate, or GD's first trial step; in (0, 100]"),
                _field("Damping λ₀ (Gauss–Newton)", _text(ids.DAMPING, v["damping"], "1.0", damping_off), ids.DAMPING,
                       "Levenberg–Marquardt λ₀ relative to diag(JᵀJ), in [0, 1e6]; 0: pure Gauss–Newton"),
            ]),
            html.Div(className="pair", children=[
                _field(f"Steps (≤ {lim['steps'][1]})", _text(ids.STEPS, v["steps"], "500"), ids.STEPS),
                _field("Recovered if ‖ẑ − z*‖ ≤ tol‖z*‖", _text(ids.TOL, v["tol"], "1e-3"), ids.TOL, "in (0, 1)"),
            ]),
            html.Div(className="pair", children=[
                _field(f"Random starts N (≤ {lim['starts'][1]})", _text(ids.STARTS, v["starts"], "100"), ids.STARTS),
                _field("Start seed", _text(ids.START_SEED, v["start_seed"], "0"), ids.START_SEED),
            ]),
            _field("", dcc.Checklist(id=ids.NEGATE, options=[{"label": " −ẑ restart (the authors': solve again "
                                                                         "from −ẑ, keep the better)", "value": "on"}],
                                     value=v["negate"], className="checklist"), ids.NEGATE),
        ),
        html.Div(id=ids.CONFIG_ERROR, className="error"),
    ])


def _graph(graph_id: str, height: str, figure=None, **kw) -> dcc.Loading:
    extra = {"figure": figure} if figure is not None else {}
    return loading(dcc.Graph(id=graph_id, config=GRAPH_CONFIG, style={"height": height}, **extra, **kw),
                   "circle", delay_show=400)


def tab_landscape(first_contour=None) -> dcc.Tab:
    return dcc.Tab(label="Landscape", value=ids.TAB_LANDSCAPE, children=[
        html.Div(className="row", children=[
            html.Div(className="col", children=[_graph(ids.LAND_SURFACE, "560px")]),
            html.Div(className="col", children=[_graph(ids.LAND_CONTOUR, "560px", figure=first_contour)]),
        ]),
        html.Div(className="info", children=[
            loading(html.Div(id=ids.RHO_TEXT), delay_show=400),
            html.Div(id=ids.CRITICAL_TEXT),
            html.Div(id=ids.LAND_COUNTS),
            loading(html.Div(id=ids.PLANE_TEXT), delay_show=400),
            html.Div("Colour: log10(J + floor), floor = 1e-15·max J, so that J = 0 stays finite (or J itself on the "
                     "linear scale). A click on the surface or the contour starts a descent from that point (drawn "
                     "on both); tick “a click sets z*” in the sidebar to move z* instead.", className="hint"),
        ]),
        dcc.Checklist(id=ids.INJ_TOGGLE, value=[], className="checklist", options=[
            {"label": " injectivity map: σ_min of A·∂G/∂z on this plane (a coarse grid, computed while ticked)",
             "value": "on"}]),
        html.Div(id=ids.INJ_BOX, style={"display": "none"}, children=[
            loading(html.Div(id=ids.INJ_TEXT, className="info")),
            dcc.Graph(id=ids.INJ_GRAPH, config=GRAPH_CONFIG, style={"height": "430px"}),
        ]),
    ])


def tab_descent() -> dcc.Tab:
    return dcc.Tab(label="Descent", value=ids.TAB_DESCENT, children=[
        html.Div(className="toolbar", children=[
            html.Button("Launch N random starts", id=ids.DESC_RANDOM, n_clicks=0),
            html.Button("Clear", id=ids.DESC_CLEAR, n_clicks=0),
            html.Button("▶ Play", id=ids.DESC_PLAY, n_clicks=0),
            html.Div(className="slider", children=[
                dcc.Slider(id=ids.DESC_SLIDER, min=0, max=1, step=1, value=0, marks=None, updatemode="drag"),
            ]),
            html.Span(id=ids.DESC_ITER_TEXT, className="iter"),
        ]),
        html.Div(id=ids.DESC_FRAME_SYNC, style={"display": "none"}),
        loading(html.Div(id=ids.DESC_COUNTS, className="info")),
        html.Div(id=ids.DESC_WARNING, className="warning"),
        html.Div(className="row", children=[
            html.Div(className="col", children=[_graph(ids.DESC_CONTOUR, "540px")]),
            html.Div(className="col", children=[_graph(ids.DESC_SURFACE, "540px")]),
        ]),
        html.Div(id=ids.DESC_PAIR_BOX, style={"display": "none"}, children=[
            html.Div(id=ids.DESC_PAIR_TEXT, className="info"),
            dcc.Graph(id=ids.DESC_PAIR, config=GRAPH_CONFIG, style={"height": "250px"}),
        ]),
        html.Div(className="toolbar", children=[
            html.Button("Budget curves: every solver from these starts", id=ids.DESC_BUDGET_RUN, n_clicks=0),
            loading(html.Span(id=ids.DESC_BUDGET_TEXT, className="hint")),
        ]),
        dcc.Graph(id=ids.DESC_BUDGET, config=GRAPH_CONFIG, style={"height": "300px"},
                  figure=figures.message_figure("Press the button to run every solver from the same starts.")),
        html.Div("Click on the contour to descend from that point. The solver, its step or damping, the −ẑ "
                 "restart, N and the steps are in the sidebar's Solver section; N random starts are N(0, I). Paths "
                 "are coloured by the diagnosis of their end point; a path that leaves the window is drawn up to "
                 "its edge (×) and again where it comes back.", className="hint"),
    ])


def tab_compare() -> dcc.Tab:
    return dcc.Tab(label="Compare σ", value=ids.TAB_COMPARE, children=[
        html.Div("Same weights, mask and z*; only the activation changes. Rotating one surface rotates all four.",
                 className="hint"),
        _graph(ids.COMPARE, "820px"),
        html.Div(id=ids.COMPARE_SYNC, style={"display": "none"}),
    ])


def tab_collapse() -> dcc.Tab:
    return dcc.Tab(label="Mode collapse", value=ids.TAB_COLLAPSE, children=[
        html.Div(className="toolbar", children=[
            dcc.RadioItems(id=ids.COLLAPSE_SOURCE, value="preset", inline=True, className="radio", options=[
                {"label": " mode-collapse preset (Fig. 4 d)", "value": "preset"},
                {"label": " current config", "value": "current"}]),
        ]),
        loading(html.Div(id=ids.COLLAPSE_TEXT, className="info")),
        _graph(ids.COLLAPSE_GRAPH, "470px"),
        _graph(ids.COLLAPSE_WITNESS, "260px"),
    ])


def tab_basins() -> dcc.Tab:
    lo, hi = state.DASH_LIMITS["basin_grid"]
    return dcc.Tab(label="Basins", value=ids.TAB_BASINS, children=[
        html.Div(className="toolbar", children=[
            html.Label(f"Starts per side ({lo}–{hi})", htmlFor=ids.BASIN_GRID),
            dcc.Input(id=ids.BASIN_GRID, type="text", value="31", debounce=True, className="text-input short"),
            html.Button("Start", id=ids.BASIN_START, n_clicks=0),
            html.Button("Cancel", id=ids.BASIN_CANCEL, n_clicks=0),
            html.Progress(id=ids.BASIN_PROGRESS, value="0", max="100"),
            _err(ids.BASIN_GRID),
        ]),
        dcc.Interval(id=ids.BASIN_INTERVAL, interval=300, disabled=True, max_intervals=1),
        html.Div(id=ids.BASIN_TEXT, className="info"),
        _graph(ids.BASIN_GRAPH, "560px"),
        html.Div("Each grid point starts one descent (the sidebar's solver and steps); a start still "
                 f"converging when its steps ran out gets up to {CONTINUE_ROUNDS} more budgets before it is "
                 "coloured, so the map shows where starts end. The map is filled a few rows at a time, so it "
                 "can be cancelled.", className="hint"),
    ])


def tab_images() -> dcc.Tab:
    return dcc.Tab(label="Images", value=ids.TAB_IMAGES, children=[
        html.Div("Hover over (or click) a latent point: its G(z), the mask, A·G(z) beside y, and the residual.",
                 className="hint"),
        html.Div(className="row", children=[
            html.Div(className="col narrow", children=[_graph(ids.IMG_CONTOUR, "460px")]),
            html.Div(className="col wide", children=[
                html.Div(id=ids.IMG_TEXT, className="info"),
                dcc.Graph(id=ids.IMG_GRAPH, config=GRAPH_CONFIG, style={"height": "300px"}),
            ]),
        ]),
    ])


def header() -> html.Div:
    return html.Div(className="header", children=[
        html.H1("When can a generative network be inverted?"),
        html.Span("Ma, Ayaz & Karaman, NeurIPS 2018", className="subtitle"),
        html.Div(className="downloads", children=[
            html.Span("Download:"),
            html.Button("landscape .npz", id=ids.DL_NPZ, n_clicks=0),
            html.Button(".csv", id=ids.DL_CSV, n_clicks=0),
            html.Button("config .json", id=ids.DL_JSON, n_clicks=0),
            html.Button("figure PNG", id=ids.DL_PNG, n_clicks=0),
            html.Button("figure HTML", id=ids.DL_HTML, n_clicks=0),
            loading(html.Span(id=ids.DL_ERROR, className="error")),
            html.Span(id=ids.DL_PNG_SYNC, style={"display": "none"}),
            dcc.Download(id=ids.DOWNLOAD),
        ]),
    ])


def build_layout(first_contour=None, first_key: str | None = None) -> html.Div:
    """The page. ``first_contour`` (the default view's contour, with ``first_key`` its figure key) is
    served with the page itself, so the first picture needs no callback round trip."""
    v = state.controls_from_config(state.BASE)
    overlay_info = {"index": figures.OVERLAY_INDEX, "names": list(figures.OUTCOME_NAMES),
                    "colors": figures.OUTCOME_COLORS}
    return html.Div(className="app", children=[
        dcc.Location(id=ids.URL, refresh=False),
        dcc.Store(id=ids.CONFIG),
        dcc.Store(id=ids.ERRORS, data={}),
        dcc.Store(id=ids.CRITICAL),
        dcc.Store(id=ids.CRITICAL_LATER),
        dcc.Store(id=ids.TAB_ID),
        dcc.Store(id=ids.POINT),
        dcc.Store(id=ids.DESCENT),
        dcc.Store(id=ids.BASINS),
        dcc.Store(id=ids.LAND_KEY, data=first_key),
        dcc.Store(id=ids.LAND_PAINTED),
        dcc.Store(id=ids.MASK_KEY),
        dcc.Store(id=ids.VIEW_SYNC),
        dcc.Store(id=ids.SURF_KEY),
        dcc.Store(id=ids.DESC_KEY),
        dcc.Store(id=ids.DESC_SURF_KEY),
        dcc.Store(id=ids.OVERLAY_INFO, data=overlay_info),
        *[dcc.Store(id=s) for s in ids.VIEW_STORES.values()],
        header(),
        html.Div(id=ids.BANNER, className="banner", role="alert"),
        html.Div(className="body", children=[
            sidebar(v),
            html.Div(className="main", children=[
                dcc.Tabs(id=ids.TABS, value=ids.TAB_LANDSCAPE, className="tabs", children=[
                    tab_landscape(first_contour), tab_descent(), tab_compare(), tab_collapse(), tab_basins(),
                    tab_images(),
                    *[dcc.Tab(label=label, value=value, children=[page.layout()]) for value, label, page in PAGES],
                ]),
            ]),
        ]),
    ])
