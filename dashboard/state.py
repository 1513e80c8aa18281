"""The page's state without computation: controls ↔ Config ↔ URL query, and the sync decision.

Plain functions over strings and dicts (no Dash, no torch maths): the sync callback asks
:func:`sync` what to show after the URL, a preset, a view option, a control or a click
changed. Bad input comes back as ``{field: message}``, each message starting with the field and
giving the allowed range. Every value is treated as if a hostile browser had sent it: the
server checks the dashboard's own bounds (:data:`DASH_LIMITS`, tighter than core's) and the cost
model (:func:`core.cost.check` with :data:`DASH_MACS`) before anything is computed.
"""
from __future__ import annotations

import math
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode

from core import PRESETS, Config, ConfigError, from_preset
from core import cost as core_cost
from core.config import CONV, PLANES, SHIPPED, spec_kind
from core.masks import parse_noise
from core.problem import resolve_device

from . import ids

DEFAULT_PRESET = "paper-fig4"
PRESET_NAMES = tuple(PRESETS)
BASE = from_preset(DEFAULT_PRESET)          # the view served at "/" and the base of every URL
DEFAULT = Config()
SCALES = ("log", "linear")
VIEW_DEFAULTS = {"scale": "log", "view": ids.TAB_LANDSCAPE}
GENERATOR_KINDS = (CONV, *SHIPPED, "custom")
NOISE_DEFAULT_LEVEL = {"gaussian": "0.01", "quantize": "8"}
PAGE_PREFIXES = ("phase.", "expected.", "inpaint.")   # URL keys of the pages with their own controls

# Bounds tighter than core.LIMITS: they keep one update of the page within seconds.
DASH_LIMITS = {
    "grid": (11, 401),
    "steps": (1, 2000),
    "starts": (1, 200),
    "basin_grid": (5, 61),
}
# Multiply-adds one request may cost in the dashboard (core.cost's model): ~10 s of one core at most.
DASH_MACS = {
    "landscape": 2e10,
    "descend": 2e11,
    "basins": 1.6e12,    # cut into steps of ≤ 1 s, each cancellable (counts CONTINUE_ROUNDS more budgets per start)
    "budget": 4e11,      # the four solvers from the same starts
    "phase": 2e13,       # cut into units of at most "phase_unit" each, a step doing as many as fit in ~1 s
    "phase_unit": 8e11,  # one unit of the phase job: a cell, or part of one (MNIST example: 7.2e11 a cell, 3–23 s)
    "injectivity": 2.5e10,   # the σ_min map: n0 + 1 passes per point (paper-fig4's 41²: ~0.1 s; mnist's 13²: ~2 s)
    "judge": 2e11,       # the window's critical points judged in the whole latent space (mnist: 9e9 for 12 points)
}
INJECTIVITY_GRIDS = (41, 31, 21, 15, 11, 7, 5)   # points per side of the σ_min map, the largest affordable
# How a field is called in the sidebar (messages name the control the user sees).
LABELS = {"grid": "grid", "steps": "steps", "starts": "starts", "channels": "channels", "rate": "rate"}

# ---------------------------------------------------------------------------
# controls ↔ Config
# ---------------------------------------------------------------------------
def _fmt(x: float) -> str:
    return repr(float(x))


def _fmt_tuple(v: tuple) -> str:
    return ",".join(_fmt(x) if isinstance(x, float) else str(x) for x in v)


def noise_controls(noise: str) -> tuple[str, str]:
    """``gaussian:0.05`` → ("gaussian", "0.05"); ``none`` → ("none", "")."""
    kind, _, level = str(noise).partition(":")
    return (kind or "none", level) if kind in ("gaussian", "quantize") else ("none", "")


def controls_from_config(cfg: Config) -> dict:
    """The value of every control (keys of ``ids.FIELD_CONTROLS``) that shows ``cfg``."""
    numeric_std = cfg.weight_std not in ("unit", "paper")
    kind = cfg.generator if cfg.generator in GENERATOR_KINDS else "custom"
    nk, nl = noise_controls(cfg.noise)
    return {
        "generator_kind": kind,
        "generator_text": cfg.generator if kind == "custom" else "",
        "latent_dim": str(cfg.latent_dim),
        "label": cfg.label,
        "dim": cfg.dim,
        "channels": _fmt_tuple(cfg.channels),
        "kernel": _fmt_tuple(cfg.kernel),
        "stride": _fmt_tuple(cfg.stride),
        "activation": cfg.activation,
        "negative_slope": _fmt(cfg.negative_slope),
        "weights": cfg.weights,
        "weight_std_kind": "number" if numeric_std else cfg.weight_std,
        "weight_std": cfg.weight_std if numeric_std else "1.0",
        "weight_seed": str(cfg.weight_seed),
        "mask": cfg.mask,
        "rate": _fmt(cfg.rate),
        "mask_seed": str(cfg.mask_seed),
        "noise_kind": nk,
        "noise_level": nl,
        "noise_seed": str(cfg.noise_seed),
        "z_star": _fmt_tuple(cfg.z_star),
        "z_seed": str(cfg.z_seed),
        "grid": str(cfg.grid),
        "extent": _fmt(cfg.extent),
        "plane": cfg.plane,
        "eps": _fmt(cfg.eps),
        "method": cfg.method,
        "lr": _fmt(cfg.lr),
        "damping": _fmt(cfg.damping),
        "negate": ["on"] if cfg.negate else [],
        "tol": _fmt(cfg.tol),
        "steps": str(cfg.steps),
        "starts": str(cfg.starts),
        "start_seed": str(cfg.start_seed),
    }


def _text(field: str, value) -> str:
    if value is None:
        raise ConfigError(field, "is empty")
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise ConfigError(field, f"expected text, got {type(value).__name__}")
    s = str(value).strip()
    if len(s) > 4096:
        raise ConfigError(field, "is too long (at most 4096 characters)")
    return s


def parse_int(field: str, value) -> int:
    s = _text(field, value)
    try:
        return int(s)
    except ValueError:
        raise ConfigError(field, f"expected an integer, got {s!r}") from None


def parse_float(field: str, value) -> float:
    s = _text(field, value)
    try:
        x = float(s)
    except ValueError:
        raise ConfigError(field, f"expected a number, got {s!r}") from None
    if not math.isfinite(x):
        raise ConfigError(field, f"expected a finite number, got {s!r}")
    return x


def parse_list(field: str, value, kind=int, allow_empty: bool = False) -> tuple:
    """'2, 16, 1' → (2, 16, 1); the message names ``field`` and the bad entry."""
    s = _text(field, value)
    parts = [p.strip() for p in s.replace(";", ",").split(",") if p.strip()]
    if not parts and not allow_empty:
        raise ConfigError(field, "is empty; give comma-separated values such as 2,16,1")
    if len(parts) > 512:
        raise ConfigError(field, f"at most 512 entries, got {len(parts)}")
    out = []
    for p in parts:
        try:
            x = kind(p)
        except ValueError:
            what = "integers" if kind is int else "numbers"
            raise ConfigError(field, f"expected comma-separated {what}, got {p!r}") from None
        if kind is float and not math.isfinite(x):
            raise ConfigError(field, f"expected finite numbers, got {p!r}")
        out.append(x)
    return tuple(out)


def parse_switch(field: str, value) -> bool:
    """A one-box checklist: [] → False, ["on"] → True."""
    if value in ([], None):
        return False
    if value == ["on"]:
        return True
    raise ConfigError(field, f"expected [] or ['on'], got {value!r}")


def parse_choice(field: str, value, allowed) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ConfigError(field, f"must be one of {', '.join(map(str, allowed))}; got {value!r}")
    return value


def parse_scale(value) -> str:
    return parse_choice("scale", value, SCALES)


def parse_label(field: str, value) -> int:
    """The class of a conditional generator: −1 (drawn from the z seed) or 0..9."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ConfigError(field, f"must be -1 (drawn) or a class in [0, 9], got {value!r}")
    v = parse_int(field, value)
    if not -1 <= v <= 9:
        raise ConfigError(field, f"must be -1 (drawn) or a class in [0, 9], got {v}")
    return v


_PARSERS = {
    "latent_dim": parse_int,
    "label": parse_label,
    "channels": lambda f, v: parse_list(f, v, int),
    "kernel": lambda f, v: parse_list(f, v, int),
    "stride": lambda f, v: parse_list(f, v, int),
    "negative_slope": parse_float,
    "weight_seed": parse_int,
    "rate": parse_float,
    "mask_seed": parse_int,
    "noise_seed": parse_int,
    "z_star": lambda f, v: parse_list(f, v, float, allow_empty=True),
    "z_seed": parse_int,
    "grid": parse_int,
    "extent": parse_float,
    "plane": lambda f, v: parse_choice(f, v, PLANES),
    "eps": parse_float,
    "lr": parse_float,
    "damping": parse_float,
    "negate": parse_switch,
    "tol": parse_float,
    "steps": parse_int,
    "starts": parse_int,
    "start_seed": parse_int,
}
_PAIRED = ("generator_kind", "generator_text", "weight_std_kind", "weight_std", "noise_kind", "noise_level")


def _check_bounds(d: dict) -> None:
    """The dashboard's bounds on grid, steps and starts (tighter than core's, so checked first)."""
    for name in ("grid", "steps", "starts"):
        lo, hi = DASH_LIMITS[name]
        v = d.get(name)
        if isinstance(v, int) and not isinstance(v, bool) and not lo <= v <= hi:
            raise ConfigError(name, f"must be in [{lo}, {hi}] in the dashboard, got {v}")


def check_request(cfg: Config, request: str, **sizes) -> core_cost.Cost:
    """:func:`core.cost.check` with the dashboard's bound on work (:data:`DASH_MACS`)."""
    key = {"budget": "descend"}.get(request, request)
    return core_cost.check(cfg, key, max_macs=DASH_MACS[request], flags=LABELS, **sizes)


def injectivity_grid(cfg: Config, n0: int) -> int:
    """Points per side of the σ_min map: the largest of :data:`INJECTIVITY_GRIDS` (and ≤ the grid)
    whose Jacobians (n0 tangents + the forward pass, forward and backward: 3 (n0 + 1) G(z) each,
    core.cost's multiply-adds per G(z)) stay within ``DASH_MACS["injectivity"]``.

    Raises
    ------
    ConfigError
        ``grid`` when not even the smallest map fits.
    """
    per_point = 3 * (int(n0) + 1) * core_cost.macs_per_point(cfg)
    for n in INJECTIVITY_GRIDS:
        if n <= cfg.grid and n * n * per_point <= DASH_MACS["injectivity"]:
            return n
    raise ConfigError("grid", f"even a {INJECTIVITY_GRIDS[-1]}² map of σ_min needs "
                              f"{INJECTIVITY_GRIDS[-1] ** 2 * per_point:.3g} multiply-adds, above the dashboard's "
                              f"{DASH_MACS['injectivity']:.3g}; use a smaller generator")


def judges_critical(cfg: Config, n0: int, points: int) -> bool:
    """Whether judging ``points`` critical points in the whole latent space stays within
    ``DASH_MACS["judge"]``: core.diagnosis probes 2 n0 + N_RANDOM_PROBES + 3 directions at two radii
    (one G(z) each) and takes the Hessian from 2 n0 + 1 gradients (~3 G(z) each), per point."""
    from core.diagnosis import N_RANDOM_PROBES

    per_point = 2 * (2 * n0 + N_RANDOM_PROBES + 3) + 3 * (2 * n0 + 1)
    return points * per_point * core_cost.macs_per_point(cfg) <= DASH_MACS["judge"]


def check_dashboard_limits(cfg: Config) -> None:
    """The dashboard's own bounds, the device, and the cost of the landscape and of a descent.

    Raises
    ------
    ConfigError
        Naming the field to change and the dashboard's allowed range.
    """
    _check_bounds(cfg.to_dict())
    resolve_device(cfg.device)
    check_request(cfg, "landscape")
    check_request(cfg, "descend")


def config_from_json(text) -> Config:
    """A config the browser sent back (a store), checked as if the browser were hostile."""
    if not isinstance(text, str):
        raise ConfigError("config", f"expected JSON text, got {type(text).__name__}")
    return _config_from_json(text)


@lru_cache(maxsize=64)
def _config_from_json(text: str) -> Config:
    cfg = Config.from_json(text)
    check_dashboard_limits(cfg)
    return cfg


def config_from_controls(values: dict, base: Config = BASE, check: bool = True) -> tuple[Config | None, dict]:
    """Controls → Config.

    Parameters
    ----------
    values : dict
        Control values keyed like :func:`controls_from_config`.
    base : Config
        Supplies the fields without a control (padding, last_activation, seeds of z* and
        the plane, dtype, device).
    check : bool
        Apply the dashboard's cost bounds (:func:`check_dashboard_limits`); the grid, steps and
        starts bounds always apply.

    Returns
    -------
    (Config or None, dict)
        The config, or None when some value is bad; and ``{field: message}`` for every bad
        value found (each message starts with the field's name).
    """
    if not isinstance(values, dict):
        return None, {"config": "config: the controls' values must be a mapping"}
    errors: dict[str, str] = {}
    d = base.to_dict()
    for field in ids.FIELD_CONTROLS:
        if field in _PAIRED:
            continue
        v = values.get(field)
        try:
            d[field] = _PARSERS[field](field, v) if field in _PARSERS else v
        except ConfigError as e:
            errors[e.field] = str(e)
    try:
        kind = values.get("weight_std_kind")
        d["weight_std"] = repr(parse_float("weight_std", values.get("weight_std"))) if kind == "number" else kind
    except ConfigError as e:
        errors[e.field] = str(e)
    try:
        kind = parse_choice("generator", values.get("generator_kind"), GENERATOR_KINDS)
        if kind == "custom":
            spec = _text("generator", values.get("generator_text"))
            if not spec:
                raise ConfigError("generator", "type a SPEC: a TorchScript file, a state dict or package.module:callable")
            d["generator"] = spec
        else:
            d["generator"] = kind
    except ConfigError as e:
        errors["generator"] = str(e)
    try:
        kind = parse_choice("noise", values.get("noise_kind"), ("none", "gaussian", "quantize"))
        level = _text("noise", values.get("noise_level") or NOISE_DEFAULT_LEVEL.get(kind, ""))
        d["noise"] = "none" if kind == "none" else f"{kind}:{level}"
        parse_noise(d["noise"])
    except ConfigError as e:
        errors["noise"] = str(e)
    if errors:
        return None, errors
    try:
        _check_bounds(d)
        cfg = Config.from_dict(d)
        if check:
            check_dashboard_limits(cfg)
    except ConfigError as e:
        return None, {e.field: str(e)}
    except (ValueError, TypeError) as e:
        return None, {"config": f"config: {e}"}
    return cfg, {}


def error_outputs(errors: dict) -> dict:
    """{field: message} → {error-div id: text} for every message div (empty ones cleared)."""
    out = {ids.err(c): "" for c in set(ids.FIELD_CONTROLS.values())}
    out[ids.CONFIG_ERROR] = ""
    for field, msg in errors.items():
        control = ids.FIELD_MESSAGE.get(field)
        target = ids.err(control) if control else ids.CONFIG_ERROR
        out[target] = (out[target] + " " + msg).strip()
    return out


def preset_of(cfg: Config) -> str | None:
    """The preset whose every override ``cfg`` keeps (None when it matches none)."""
    if cfg.generator != CONV:
        return None
    for name, over in PRESETS.items():
        if all(getattr(cfg, k) == (tuple(v) if isinstance(v, list) else v) for k, v in over.items()):
            return name
    return None


def fit_to_dashboard(cfg: Config) -> tuple[Config, str]:
    """The config with the grid and the starts lowered until the dashboard's cost bounds hold.

    Used when the generator changes: a trained generator costs ~400× a G(z) of ``paper-fig4``.
    Returns the config and a note saying what was lowered ("" when nothing was).
    """
    notes = []
    for field, choices in (("grid", (201, 151, 101, 81, 61, 41, 31, 21, 11)), ("starts", (100, 50, 20, 10, 5, 1))):
        request = "landscape" if field == "grid" else "descend"
        try:
            check_request(cfg, request)
            continue
        except ConfigError:
            pass
        for c in choices:
            if c < getattr(cfg, field):
                trial = cfg.replace(**{field: c})
                try:
                    check_request(trial, request)
                except ConfigError:
                    continue
                notes.append(f"{field} {getattr(cfg, field)} → {c}")
                cfg = trial
                break
    return cfg, ("lowered to keep the dashboard responsive: " + ", ".join(notes)) if notes else ""


# ---------------------------------------------------------------------------
# URL query ↔ state
# ---------------------------------------------------------------------------
def _pairs(cfg: Config) -> list[tuple[str, str]]:
    return parse_qsl(cfg.to_query(only_changed=False), keep_blank_values=True)


def _is_page_key(k: str) -> bool:
    return k.startswith(PAGE_PREFIXES)


URL_NOT_TEXT = "url: the query must be text"   # a forged URL (the pages' URL syncs say the same)


def query_pairs(search) -> list[tuple[str, str]]:
    """The (key, value) items of a URL query; none for anything but text (a forged URL: the sync
    reports it through :func:`state_from_query`, and rewrites the URL from the config)."""
    if not isinstance(search, str):
        return []
    return parse_qsl(search.lstrip("?"), keep_blank_values=True)


def page_items(search: str | None) -> list[tuple[str, str]]:
    """The URL items that belong to the pages with their own controls (``phase.…`` etc.)."""
    return [(k, v) for k, v in query_pairs(search) if _is_page_key(k)]


def query_from_state(cfg: Config, scale: str = "log", view: str = ids.TAB_LANDSCAPE, search: str | None = None) -> str:
    """``?…`` with only what differs from the default view (paper-fig4, log scale, first tab),
    followed by the pages' own items of the current ``search``."""
    base = dict(_pairs(BASE))
    items = [(k, v) for k, v in _pairs(cfg) if base.get(k) != v]
    if scale != VIEW_DEFAULTS["scale"]:
        items.append(("scale", scale))
    if view != VIEW_DEFAULTS["view"]:
        items.append(("view", view))
    items += page_items(search)
    return "?" + urlencode(items) if items else ""


def page_values(search: str | None, prefix: str, defaults: dict) -> dict:
    """A page's control values from the URL (``prefix.key=value``), the defaults elsewhere.

    The values are text as typed; the page validates them as it validates its controls.
    """
    out = dict(defaults)
    for k, v in page_items(search):
        if k.startswith(prefix) and k[len(prefix):] in defaults:
            name = k[len(prefix):]
            out[name] = v.split(",") if isinstance(defaults[name], list) else v
    return out


def page_search(search: str | None, prefix: str, values: dict, defaults: dict) -> str:
    """``search`` with the page's items replaced by ``values`` (only those that differ from ``defaults``)."""
    pairs = [(k, v) for k, v in query_pairs(search) if not k.startswith(prefix)]
    for name, v in values.items():
        if name in defaults and v != defaults[name]:
            pairs.append((prefix + name, ",".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)))
    return "?" + urlencode(pairs) if pairs else ""


def pending_spec(search: str | None) -> str:
    """A generator SPEC in the URL that would run code (a file or module:callable), or ""."""
    for k, v in query_pairs(search):
        if k == "generator" and v and spec_kind(v) in ("file", "module"):
            return v
    return ""


def state_from_query(search: str | None, with_note: bool = False) -> tuple:
    """``?…`` → (config, colour scale, view, error message) [, note].

    Config fields override the ``preset`` named in the query (default paper-fig4); ``scale``
    and ``view`` are view options; keys of the pages (``phase.…``) are theirs. On a bad query the
    default view comes back with a message that names the field and the dashboard's own range.
    A generator SPEC that would run code (a file, ``module:callable``) is not loaded from a link:
    the message asks to confirm it in the Generator control. Where the config costs more than the
    dashboard allows, the grid and the starts are lowered (:func:`fit_to_dashboard`) and ``note``
    (with ``with_note``) says so.
    """
    fallback = (BASE, VIEW_DEFAULTS["scale"], VIEW_DEFAULTS["view"])
    note = ""

    def done(cfg, scale, view, err):
        return (cfg, scale, view, err, note) if with_note else (cfg, scale, view, err)

    if search is not None and not isinstance(search, str):
        return done(*fallback, URL_NOT_TEXT)
    pairs = query_pairs(search)
    scale, view, preset = VIEW_DEFAULTS["scale"], VIEW_DEFAULTS["view"], DEFAULT_PRESET
    rest = []
    try:
        for k, v in pairs:
            if k == "scale":
                scale = parse_scale(v)
            elif k == "view":
                view = parse_choice("view", v, ids.TAB_VALUES)
            elif k == "preset":
                preset = parse_choice("preset", v, tuple(PRESETS))
            elif _is_page_key(k):
                continue
            else:
                if k in DASH_LIMITS:
                    try:
                        n = int(v)
                    except ValueError:
                        n = None
                    if n is not None:
                        _check_bounds({k: n})
                rest.append((k, v))
        spec = pending_spec(search)
        if spec:
            raise ConfigError("generator", f"{spec!r} runs code on this machine, so a link does not load it; "
                                           "choose 'custom' under Generator and press Enter in its SPEC field")
        # A preset's z* belongs to its latent size: from_preset drops it when these change n0.
        special = {}
        for k, v in rest:
            if k in ("generator", "channels", "latent_dim"):
                special[k] = getattr(Config.from_query(urlencode([(k, v)])), k)
        base = from_preset(preset, **special)
        # Later keys win in Config.from_query, so the query's values override the preset's.
        cfg = Config.from_query(urlencode(_pairs(base) + rest))
        _check_bounds(cfg.to_dict())
        resolve_device(cfg.device)
        cfg, note = fit_to_dashboard(cfg)
        check_dashboard_limits(cfg)
    except ConfigError as e:
        note = ""
        return done(*fallback, f"URL: {e}")
    except ValueError as e:
        note = ""
        return done(*fallback, f"URL: {e}")
    return done(cfg, scale, view, "")


# ---------------------------------------------------------------------------
# the sync callback: URL, preset, view options, controls and clicks → state
# ---------------------------------------------------------------------------
KEEP = "__keep__"   # "leave this output as it is" (the callback turns it into dash.no_update)
GENERATOR_CONTROLS = (ids.GENERATOR_KIND, ids.GENERATOR_TEXT, ids.LATENT_DIM)


def sync(trigger: str | None, search: str | None, preset: str | None, scale: str, view: str,
         values: dict, click_z: tuple | None = None, click_sets_z: bool = False,
         current_json: str | None = None, probe=None) -> dict:
    """Decide every output of the sync callback.

    Parameters
    ----------
    trigger : str or None
        Id of the component that fired (None on the page's first call: read the URL).
    search : str
        The URL's query string.
    preset, scale, view : str
        Values of the preset dropdown, the colour-scale radio and the tabs.
    values : dict
        Every control's value, keyed like :func:`controls_from_config`.
    click_z : (text, message) or None
        When the trigger is a graph: the clicked point as z* text, or a message saying why it
        cannot be z* (see logic.click_z_star).
    click_sets_z : bool
        Whether a click sets z* (else a click starts a descent, handled elsewhere).
    current_json : str or None
        The config now shown.
    probe : callable, optional
        ``probe(cfg) → n0``: builds the generator (cached) and returns its latent size, raising
        ConfigError (naming ``generator``) when it cannot be loaded. Called for every generator
        other than ``conv`` before the config is accepted.

    Returns
    -------
    dict
        ``controls`` ({field: value} to change), ``preset``, ``scale``, ``view``, ``config``
        (JSON), ``search``, ``errors`` ({message-div id: text}) and ``banner`` (the line at the
        top); each may be :data:`KEEP`.
    """
    out = {"controls": {}, "preset": KEEP, "scale": KEEP, "view": KEEP, "config": KEEP, "search": KEEP,
           "errors": KEEP, "banner": KEEP}
    try:
        current = config_from_json(current_json) if current_json else BASE
    except ConfigError:
        current, current_json = BASE, None
    try:
        scale = parse_scale(scale)
    except ConfigError:
        scale = VIEW_DEFAULTS["scale"]
    view = view if view in ids.TAB_VALUES else VIEW_DEFAULTS["view"]

    def show(cfg, url_error="", note=""):
        out["config"] = cfg.to_json() if cfg.to_json() != current_json else KEEP
        out["preset"] = preset_of(cfg)
        out["errors"] = error_outputs({})
        out["banner"] = url_error or note

    def probed(cfg):
        """(cfg, note) after loading a non-conv generator: z* fitted to its n0, costs to the dashboard."""
        if cfg.generator == CONV or probe is None:
            return cfg, ""
        n0 = probe(cfg)
        if cfg.z_star and len(cfg.z_star) != n0:
            cfg = cfg.replace(z_star=())
        return fit_to_dashboard(cfg)

    if trigger in (None, ids.URL):
        cfg, sc, vw, url_error, note = state_from_query(search, with_note=True)
        if not url_error:
            try:
                cfg, more = probed(cfg)
                note = note or more
            except ConfigError as e:
                cfg, url_error = BASE, f"URL: {e}"
        out["controls"] = controls_from_config(cfg)
        spec = pending_spec(search)
        if spec:
            out["controls"].update(generator_kind="custom", generator_text=spec)
        out["scale"], out["view"] = sc, vw
        show(cfg, url_error=url_error, note=note)
        if not url_error:
            q = query_from_state(cfg, sc, vw, search)
            out["search"] = q if q != (search or "") else KEEP
        return out
    if trigger == ids.PRESET:
        if preset not in PRESETS:
            return out
        cfg = from_preset(preset)
        out["controls"] = controls_from_config(cfg)
        show(cfg)
        out["search"] = query_from_state(cfg, scale, view, search)
        return out
    if trigger in (ids.SCALE, ids.TABS):
        out["search"] = query_from_state(current, scale, view, search)
        return out
    values = dict(values) if isinstance(values, dict) else {}
    if trigger not in ids.FIELD_CONTROLS.values():      # a click on a graph
        if not click_sets_z or click_z is None:
            return out
        text, message = click_z
        if message:
            out["errors"] = error_outputs({"z_star": message})
            return out
        values["z_star"] = text
        out["controls"] = {"z_star": text}
    switching = trigger in GENERATOR_CONTROLS
    if switching and values.get("generator_kind") != current.generator:
        # Another generator: its own z* (drawn from the z seed; the star plane's window holds it).
        values["z_star"] = ""
    # A new generator may cost more: fit grid and starts to the dashboard instead of refusing.
    cfg, errors = config_from_controls(values, base=current, check=not switching)
    if cfg is None:
        out["errors"] = error_outputs(errors)
        return out
    note = ""
    try:
        fitted, note = probed(cfg) if switching or cfg.generator != current.generator else (cfg, "")
        check_dashboard_limits(fitted)
    except ConfigError as e:
        out["errors"] = error_outputs({e.field: str(e)})
        return out
    if switching:
        out["controls"] = {**out["controls"], **{k: v for k, v in controls_from_config(fitted).items()
                                                 if k in ("z_star", "grid", "starts", "extent")}}
    show(fitted, note=note)
    out["search"] = query_from_state(fitted, scale, view, search)
    return out
