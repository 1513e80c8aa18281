"""The page's state without computation: controls ↔ Config ↔ URL query, and the sync decision.

Plain functions over strings and dicts (no Dash, no torch): the sync callback asks
:func:`sync` what to show after the URL, a preset, a view option, a control or a click
changed. Bad input comes back as ``{field: message}``, each message starting with the field.
"""
from __future__ import annotations

import math
from urllib.parse import parse_qsl, urlencode

from core import PRESETS, Config, ConfigError, from_preset

from . import ids

DEFAULT_PRESET = "paper-fig4"
PRESET_NAMES = tuple(PRESETS)
BASE = from_preset(DEFAULT_PRESET)          # the view served at "/" and the base of every URL
DEFAULT = Config()
SCALES = ("log", "linear")
VIEW_DEFAULTS = {"scale": "log", "view": ids.TAB_LANDSCAPE}

# Bounds tighter than core.LIMITS: they keep one update of the page within seconds.
DASH_LIMITS = {
    "grid": (11, 401),
    "steps": (1, 2000),
    "starts": (1, 200),
    "basin_grid": (5, 61),
    "macs": 2e10,            # multiply-adds of one landscape (grid² × MACs of one G(z))
    "descent_macs": 2e11,    # of one batched descent (starts × steps × 3 passes × MACs)
}

# ---------------------------------------------------------------------------
# controls ↔ Config
# ---------------------------------------------------------------------------
def _fmt(x: float) -> str:
    return repr(float(x))


def _fmt_tuple(v: tuple) -> str:
    return ",".join(_fmt(x) if isinstance(x, float) else str(x) for x in v)


def controls_from_config(cfg: Config) -> dict:
    """The value of every control (keys of ``ids.FIELD_CONTROLS``) that shows ``cfg``."""
    numeric_std = cfg.weight_std not in ("unit", "paper")
    return {
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
        "z_star": _fmt_tuple(cfg.z_star),
        "grid": str(cfg.grid),
        "extent": _fmt(cfg.extent),
        "eps": _fmt(cfg.eps),
        "method": cfg.method,
        "lr": _fmt(cfg.lr),
        "steps": str(cfg.steps),
        "starts": str(cfg.starts),
        "start_seed": str(cfg.start_seed),
    }


def _text(field: str, value) -> str:
    if value is None:
        raise ConfigError(field, "is empty")
    return str(value).strip()


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


_PARSERS = {
    "dim": parse_int,
    "channels": lambda f, v: parse_list(f, v, int),
    "kernel": lambda f, v: parse_list(f, v, int),
    "stride": lambda f, v: parse_list(f, v, int),
    "negative_slope": parse_float,
    "weight_seed": parse_int,
    "rate": parse_float,
    "mask_seed": parse_int,
    "z_star": lambda f, v: parse_list(f, v, float, allow_empty=True),
    "grid": parse_int,
    "extent": parse_float,
    "eps": parse_float,
    "lr": parse_float,
    "steps": parse_int,
    "starts": parse_int,
    "start_seed": parse_int,
}


def macs_per_point(cfg: Config) -> int:
    """Multiply-adds of one G(z): Σ_i C_{i−1} C_i k_i^dim S_{i−1}^dim (S = spatial size per axis)."""
    sizes = cfg.layer_sizes()
    ks = cfg.per_layer("kernel")
    return sum(cfg.channels[i] * cfg.channels[i + 1] * ks[i] ** cfg.dim * sizes[i] ** cfg.dim
               for i in range(cfg.depth))


def _check_bounds(d: dict) -> None:
    """The dashboard's bounds on grid, steps and starts (tighter than core's, so checked first)."""
    for name in ("grid", "steps", "starts"):
        lo, hi = DASH_LIMITS[name]
        v = d[name]
        if isinstance(v, int) and not lo <= v <= hi:
            raise ConfigError(name, f"must be in [{lo}, {hi}] in the dashboard, got {v}")


def check_dashboard_limits(cfg: Config) -> None:
    """The dashboard's own bounds (see ``DASH_LIMITS``); raises ConfigError naming the field."""
    _check_bounds(cfg.to_dict())
    macs = macs_per_point(cfg)
    if cfg.grid ** 2 * macs > DASH_LIMITS["macs"]:
        raise ConfigError("grid", f"{cfg.grid}² points × {macs} multiply-adds per G(z) is too slow for the "
                                  f"dashboard (limit {DASH_LIMITS['macs']:.0e}); lower the grid or the widths")
    if cfg.steps * cfg.starts * 3 * macs > DASH_LIMITS["descent_macs"]:
        raise ConfigError("steps", f"steps × starts is too slow for this network in the dashboard "
                                   f"(limit {DASH_LIMITS['descent_macs']:.0e} multiply-adds); lower steps or starts")


def config_from_controls(values: dict, base: Config = BASE) -> tuple[Config | None, dict]:
    """Controls → Config.

    Parameters
    ----------
    values : dict
        Control values keyed like :func:`controls_from_config`.
    base : Config
        Supplies the fields without a control (padding, last_activation, tol, seeds of z* and
        the plane, dtype, device).

    Returns
    -------
    (Config or None, dict)
        The config, or None when some value is bad; and ``{field: message}`` for every bad
        value found (each message starts with the field's name).
    """
    errors: dict[str, str] = {}
    d = base.to_dict()
    for field, control in ids.FIELD_CONTROLS.items():
        if field in ("weight_std_kind", "weight_std"):
            continue
        v = values.get(field)
        try:
            d[field] = _PARSERS[field](field, v) if field in _PARSERS else v
        except ConfigError as e:
            errors[e.field] = str(e)
    kind = values.get("weight_std_kind")
    if kind == "number":
        try:
            d["weight_std"] = repr(parse_float("weight_std", values.get("weight_std")))
        except ConfigError as e:
            errors[e.field] = str(e)
    else:
        d["weight_std"] = kind
    if errors:
        return None, errors
    try:
        _check_bounds(d)
        cfg = Config.from_dict(d)
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
        control = ids.FIELD_CONTROLS.get(field)
        target = ids.err(control) if control else ids.CONFIG_ERROR
        out[target] = (out[target] + " " + msg).strip()
    return out


def preset_of(cfg: Config) -> str | None:
    """The preset whose every override ``cfg`` keeps (None when it matches none)."""
    for name, over in PRESETS.items():
        if all(getattr(cfg, k) == (tuple(v) if isinstance(v, list) else v) for k, v in over.items()):
            return name
    return None


# ---------------------------------------------------------------------------
# URL query ↔ state
# ---------------------------------------------------------------------------
def _pairs(cfg: Config) -> list[tuple[str, str]]:
    return parse_qsl(cfg.to_query(only_changed=False), keep_blank_values=True)


def query_from_state(cfg: Config, scale: str = "log", view: str = ids.TAB_LANDSCAPE) -> str:
    """``?…`` with only what differs from the default view (paper-fig4, log scale, first tab)."""
    base = dict(_pairs(BASE))
    items = [(k, v) for k, v in _pairs(cfg) if base.get(k) != v]
    if scale != VIEW_DEFAULTS["scale"]:
        items.append(("scale", scale))
    if view != VIEW_DEFAULTS["view"]:
        items.append(("view", view))
    return "?" + urlencode(items) if items else ""


def state_from_query(search: str | None) -> tuple[Config, str, str, str]:
    """``?…`` → (config, colour scale, view, error message).

    Config fields override the ``preset`` named in the query (default paper-fig4); ``scale``
    and ``view`` are view options. On a bad query the default view comes back with a message
    that names the field.
    """
    pairs = parse_qsl((search or "").lstrip("?"), keep_blank_values=True)
    scale, view, preset = VIEW_DEFAULTS["scale"], VIEW_DEFAULTS["view"], DEFAULT_PRESET
    rest = []
    try:
        for k, v in pairs:
            if k == "scale":
                if v not in SCALES:
                    raise ConfigError("scale", f"must be one of {', '.join(SCALES)}; got {v!r}")
                scale = v
            elif k == "view":
                if v not in ids.TAB_VALUES:
                    raise ConfigError("view", f"must be one of {', '.join(ids.TAB_VALUES)}; got {v!r}")
                view = v
            elif k == "preset":
                if v not in PRESETS:
                    raise ConfigError("preset", f"must be one of {', '.join(PRESETS)}; got {v!r}")
                preset = v
            else:
                rest.append((k, v))
        base = from_preset(preset)
        # Later keys win in Config.from_query, so the query's values override the preset's.
        cfg = Config.from_query(urlencode(_pairs(base) + rest))
        check_dashboard_limits(cfg)
    except ConfigError as e:
        return BASE, VIEW_DEFAULTS["scale"], VIEW_DEFAULTS["view"], f"URL: {e}"
    except ValueError as e:
        return BASE, VIEW_DEFAULTS["scale"], VIEW_DEFAULTS["view"], f"URL: {e}"
    return cfg, scale, view, ""


# ---------------------------------------------------------------------------
# the sync callback: URL, preset, view options, controls and clicks → state
# ---------------------------------------------------------------------------
KEEP = "__keep__"   # "leave this output as it is" (the callback turns it into dash.no_update)


def sync(trigger: str | None, search: str | None, preset: str | None, scale: str, view: str,
         values: dict, click_z: tuple | None = None, click_sets_z: bool = False,
         current_json: str | None = None) -> dict:
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

    Returns
    -------
    dict
        ``controls`` ({field: value} to change), ``preset``, ``scale``, ``view``, ``config``
        (JSON), ``search`` and ``errors`` ({message-div id: text}); each may be :data:`KEEP`.
    """
    out = {"controls": {}, "preset": KEEP, "scale": KEEP, "view": KEEP, "config": KEEP, "search": KEEP,
           "errors": KEEP}
    current = Config.from_json(current_json) if current_json else BASE

    def show(cfg, errors=None, url_error=""):
        out["config"] = cfg.to_json() if cfg.to_json() != current_json else KEEP
        out["preset"] = preset_of(cfg)
        e = error_outputs(errors or {})
        e[ids.CONFIG_ERROR] = url_error
        out["errors"] = e

    if trigger in (None, ids.URL):
        cfg, sc, vw, url_error = state_from_query(search)
        out["controls"] = controls_from_config(cfg)
        out["scale"], out["view"] = sc, vw
        show(cfg, url_error=url_error)
        if not url_error:
            q = query_from_state(cfg, sc, vw)
            out["search"] = q if q != (search or "") else KEEP
        return out
    if trigger == ids.PRESET:
        if preset not in PRESETS:
            return out
        cfg = from_preset(preset)
        out["controls"] = controls_from_config(cfg)
        show(cfg)
        out["search"] = query_from_state(cfg, scale, view)
        return out
    if trigger in (ids.SCALE, ids.TABS):
        out["search"] = query_from_state(current, scale, view)
        return out
    values = dict(values)
    if trigger not in ids.FIELD_CONTROLS.values():      # a click on a graph
        if not click_sets_z or click_z is None:
            return out
        text, message = click_z
        if message:
            out["errors"] = {**error_outputs({"z_star": message}), ids.CONFIG_ERROR: ""}
            return out
        values["z_star"] = text
        out["controls"] = {"z_star": text}
    cfg, errors = config_from_controls(values, base=current)
    if cfg is None:
        out["errors"] = error_outputs(errors)
        return out
    show(cfg)
    out["search"] = query_from_state(cfg, scale, view)
    return out


def playback(trigger: str | None, frame: int, last: int, playing: bool) -> tuple[int, bool]:
    """The descent player: (frame, playing) after the play button, a timer tick or a new descent."""
    if trigger == ids.DESC_PLAY:
        if playing:
            return frame, False
        return (0 if frame >= last else frame), last > 0
    if trigger == ids.DESC_INTERVAL:
        if not playing:
            return frame, False
        nxt = min(frame + 1, last)
        return nxt, nxt < last
    return last, False   # a new descent: show it whole


SURFACE_EVERY = 5   # while playing, the surface follows every 5th frame (a 3-D redraw costs far more)


def surface_follows(frame: int | None, desc: dict | None, playing: bool) -> bool:
    """Whether the descent surface is redrawn for this frame (always when paused or at the end)."""
    last = len((desc or {}).get("iters") or [0]) - 1
    return not playing or frame is None or frame >= last or frame % SURFACE_EVERY == 0


