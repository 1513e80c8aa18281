"""The one configuration object: network, weights, mask, z*, grid and descent.

A :class:`Config` is a frozen dataclass that survives a round trip through JSON
(:meth:`Config.to_json` / :meth:`Config.from_json`) and through a URL query
string (:meth:`Config.to_query` / :meth:`Config.from_query`). Unknown keys and
values of the wrong type or outside their range raise :class:`ConfigError`,
whose message names the field and the allowed values.

Every bound on something a user can make large (grid, starts, steps, channel
widths) lives in :data:`LIMITS`, so the CLI, the API and the dashboard share it.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import parse_qsl, urlencode

ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "identity")
WEIGHT_LAWS = ("gaussian", "uniform", "rademacher", "uniform01", "bernoulli01")
MASKS = ("identity", "random", "top", "bottom", "left", "right", "border", "center", "strip", "gaussian")
METHODS = ("adam", "gd")
DTYPES = ("float32", "float64")
DEVICES = ("auto", "cpu", "cuda")

# Upper bounds on everything that costs time or memory.
LIMITS = {
    "depth": 8,          # number of transposed-convolution layers
    "channel": 512,      # channels of one layer (n0 included)
    "kernel": 15,
    "stride": 15,
    "output_size": 1 << 18,  # entries of G(z) for one z
    "layer_size": 1 << 20,   # entries of any hidden layer for one z
    "grid": 1001,        # points per grid side
    "starts": 10000,     # descent starts
    "steps": 5000,       # descent iterations
    "extent": 1e4,
    "seed": 2**31 - 1,
}


class ConfigError(ValueError):
    """A configuration value is unknown, of the wrong type or out of range."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


@dataclass(frozen=True)
class Config:
    """Everything that defines one landscape / descent experiment.

    The generator is ``G(z) = σ_d(W_d … σ(W_1 z))`` with ``W_i`` transposed
    convolutions; ``z ∈ R^{n0}`` enters as ``n0`` channels of a 1-sample (1-D)
    or 1×1 (2-D) signal, so ``n0 = channels[0]``.
    """

    # --- network -----------------------------------------------------------
    dim: int = 2                          # 1-D or 2-D convolutions
    channels: tuple = (2, 16, 1)          # C_0 = n0, C_1, ..., C_d
    kernel: tuple = (5,)                  # one value for all layers, or one per layer
    stride: tuple = (3,)                  # idem
    padding: tuple = (0,)                 # idem (PyTorch ConvTranspose padding: crops the output)
    activation: str = "relu"              # σ after every layer
    negative_slope: float = 0.2           # leaky ReLU slope
    last_activation: str = ""             # σ_d of the last layer; "" means the same as `activation`
    # --- weights -----------------------------------------------------------
    weights: str = "gaussian"             # weight law, see WEIGHT_LAWS
    weight_std: str = "unit"              # "unit" = N(0,1) as stated for Fig. 4, "paper" = 1/sqrt(C_out k^dim), or a number
    weight_seed: int = 0
    # --- observation A -----------------------------------------------------
    mask: str = "random"
    rate: float = 0.5                     # requested sampling rate r = m / n
    mask_seed: int = 0
    # --- ground truth ------------------------------------------------------
    z_star: tuple = ()                    # empty: drawn N(0, I) from z_seed
    z_seed: int = 0
    # --- landscape grid ----------------------------------------------------
    grid: int = 201                       # points per side (M = N = grid)
    extent: float = 3.0                   # half-width of the window, in latent units
    plane_seed: int = 0                   # seed of d2 when n0 > 2
    # --- descent -------------------------------------------------------------
    method: str = "adam"
    lr: float = 0.1                       # Adam learning rate / GD step size
    steps: int = 500
    starts: int = 100
    start_seed: int = 0
    tol: float = 1e-3                     # recovered if ‖z − z*‖ ≤ tol ‖z*‖
    eps: float = 0.15                     # radius factor of B(z*, ε‖z*‖) and B(−ρ z*, ε‖z*‖)
    # --- numerics ----------------------------------------------------------
    dtype: str = "float32"
    device: str = "auto"

    def __post_init__(self):
        _validate(self)

    # ---- derived --------------------------------------------------------
    @property
    def depth(self) -> int:
        return len(self.channels) - 1

    @property
    def n0(self) -> int:
        return self.channels[0]

    def per_layer(self, name: str) -> tuple:
        """Kernel, stride or padding expanded to one value per layer."""
        v = getattr(self, name)
        return v * self.depth if len(v) == 1 else v

    @property
    def last(self) -> str:
        return self.last_activation or self.activation

    def layer_sizes(self) -> list[int]:
        """Spatial length (per axis) of every layer's output, input first (1)."""
        sizes = [1]
        for k, s, p in zip(self.per_layer("kernel"), self.per_layer("stride"), self.per_layer("padding")):
            sizes.append((sizes[-1] - 1) * s - 2 * p + k)
        return sizes

    def output_shape(self) -> tuple:
        return (self.channels[-1],) + (self.layer_sizes()[-1],) * self.dim

    def replace(self, **changes) -> "Config":
        return dataclasses.replace(self, **{k: _coerce(k, v) for k, v in changes.items()})

    # ---- serialisation --------------------------------------------------
    def to_dict(self) -> dict:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict) -> "Config":
        if not isinstance(d, dict):
            raise ConfigError("config", f"expected a mapping, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(unknown[0], f"unknown key; allowed keys are {', '.join(sorted(known))}")
        return cls(**{k: _coerce(k, v) for k, v in d.items()})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, s: str) -> "Config":
        try:
            d = json.loads(s)
        except json.JSONDecodeError as e:
            raise ConfigError("config", f"not valid JSON ({e.msg})") from None
        return cls.from_dict(d)

    def to_query(self, only_changed: bool = True) -> str:
        """URL query string; by default only the fields that differ from the defaults."""
        default = Config()
        items = []
        for f in fields(self):
            v = getattr(self, f.name)
            if only_changed and v == getattr(default, f.name):
                continue
            items.append((f.name, _to_text(v)))
        return urlencode(items)

    @classmethod
    def from_query(cls, query: str) -> "Config":
        query = query.lstrip("?")
        d = {}
        for k, v in parse_qsl(query, keep_blank_values=True):
            d[k] = _from_text(k, v)
        return cls.from_dict(d)


_FIELD_TYPES = {f.name: type(f.default) for f in fields(Config)}
_TUPLE_INT = {"channels", "kernel", "stride", "padding"}


def _to_text(v) -> str:
    if isinstance(v, tuple):
        return ",".join(repr(x) if isinstance(x, float) else str(x) for x in v)
    return repr(v) if isinstance(v, float) else str(v)


def _from_text(name: str, text: str):
    """Parse one query/CLI value; type errors are reported by ``_coerce``."""
    if name not in _FIELD_TYPES:
        return text
    t = _FIELD_TYPES[name]
    try:
        if t is tuple:
            parts = [p for p in text.split(",") if p.strip() != ""]
            return tuple(int(p) if name in _TUPLE_INT else float(p) for p in parts)
        if t is int:
            return int(text)
        if t is float:
            return float(text)
    except ValueError:
        kind = "integers" if (t is int or name in _TUPLE_INT) else "numbers"
        raise ConfigError(name, f"expected {kind}, got {text!r}") from None
    return text


def _coerce(name: str, v: Any):
    """Bring JSON-ish values (lists, ints for floats) to the field's type."""
    if name not in _FIELD_TYPES:
        raise ConfigError(name, "unknown key")
    t = _FIELD_TYPES[name]
    if name == "weight_std" and isinstance(v, (int, float)) and not isinstance(v, bool):
        return repr(float(v))
    if t is tuple:
        if isinstance(v, (list, tuple)):
            return tuple(v)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return (v,)
        raise ConfigError(name, f"expected a list of numbers, got {type(v).__name__}")
    if t is float and isinstance(v, int) and not isinstance(v, bool):
        return float(v)
    return v


def _check_type(name: str, v, t):
    if t is int and (not isinstance(v, int) or isinstance(v, bool)):
        raise ConfigError(name, f"expected an integer, got {v!r}")
    if t is float and (not isinstance(v, float) or not math.isfinite(v)):
        raise ConfigError(name, f"expected a finite number, got {v!r}")
    if t is str and not isinstance(v, str):
        raise ConfigError(name, f"expected a string, got {v!r}")


def _int_range(name, v, lo, hi):
    if not lo <= v <= hi:
        raise ConfigError(name, f"must be in [{lo}, {hi}], got {v}")


def _choice(name, v, allowed):
    if v not in allowed:
        raise ConfigError(name, f"must be one of {', '.join(allowed)}; got {v!r}")


def _validate(c: Config):
    for f in fields(c):
        v = getattr(c, f.name)
        t = _FIELD_TYPES[f.name]
        if t is tuple:
            if not isinstance(v, tuple):
                raise ConfigError(f.name, f"expected a list, got {v!r}")
            for x in v:
                _check_type(f.name, x, int if f.name in _TUPLE_INT else float)
        else:
            _check_type(f.name, v, t)

    _int_range("dim", c.dim, 1, 2)
    if not 2 <= len(c.channels) <= LIMITS["depth"] + 1:
        raise ConfigError("channels", f"needs between 2 and {LIMITS['depth'] + 1} entries (n0, C1, ..., Cd), got {len(c.channels)}")
    for x in c.channels:
        _int_range("channels", x, 1, LIMITS["channel"])
    d = c.depth
    for name in ("kernel", "stride", "padding"):
        v = getattr(c, name)
        if len(v) not in (1, d):
            raise ConfigError(name, f"give one value or one per layer ({d}), got {len(v)}")
    for k in c.per_layer("kernel"):
        _int_range("kernel", k, 1, LIMITS["kernel"])
    for s in c.per_layer("stride"):
        _int_range("stride", s, 1, LIMITS["stride"])
    for p, k in zip(c.per_layer("padding"), c.per_layer("kernel")):
        _int_range("padding", p, 0, k - 1)
    sizes = c.layer_sizes()
    for i, (size, ch) in enumerate(zip(sizes[1:], c.channels[1:]), start=1):
        if size < 1:
            raise ConfigError("padding", f"layer {i} output would be empty (size {size}); lower the padding")
        if ch * size ** c.dim > LIMITS["layer_size"]:
            raise ConfigError("channels", f"layer {i} has {ch * size ** c.dim} entries per sample; the limit is {LIMITS['layer_size']}")
    if c.channels[-1] * sizes[-1] ** c.dim > LIMITS["output_size"]:
        raise ConfigError("channels", f"the output has more than {LIMITS['output_size']} entries")

    _choice("activation", c.activation, ACTIVATIONS)
    if c.last_activation:
        _choice("last_activation", c.last_activation, ACTIVATIONS)
    if not 0.0 <= c.negative_slope <= 1.0:
        raise ConfigError("negative_slope", f"must be in [0, 1], got {c.negative_slope}")
    _choice("weights", c.weights, WEIGHT_LAWS)
    if c.weight_std not in ("unit", "paper"):
        try:
            s = float(c.weight_std)
        except ValueError:
            raise ConfigError("weight_std", f"must be 'unit', 'paper' or a positive number, got {c.weight_std!r}") from None
        if not (math.isfinite(s) and 0 < s <= 1e3):
            raise ConfigError("weight_std", f"must be 'unit', 'paper' or a number in (0, 1000], got {c.weight_std!r}")
    _choice("mask", c.mask, MASKS)
    if not 0.0 < c.rate <= 1.0:
        raise ConfigError("rate", f"must be in (0, 1], got {c.rate}")
    if c.dim == 1 and c.mask in ("top", "bottom"):
        raise ConfigError("mask", "top/bottom need a 2-D output; use left/right for dim 1")
    for name in ("weight_seed", "mask_seed", "z_seed", "plane_seed", "start_seed"):
        _int_range(name, getattr(c, name), 0, LIMITS["seed"])
    if c.z_star:
        if len(c.z_star) != c.n0:
            raise ConfigError("z_star", f"needs n0 = channels[0] = {c.n0} entries, got {len(c.z_star)}")
        if all(x == 0 for x in c.z_star):
            raise ConfigError("z_star", "must be nonzero (the theory is about z* ≠ 0)")
        if max(abs(x) for x in c.z_star) > LIMITS["extent"]:
            raise ConfigError("z_star", f"entries must be in [-{LIMITS['extent']:g}, {LIMITS['extent']:g}]")
    _int_range("grid", c.grid, 3, LIMITS["grid"])
    if not 0 < c.extent <= LIMITS["extent"]:
        raise ConfigError("extent", f"must be in (0, {LIMITS['extent']:g}], got {c.extent}")
    _choice("method", c.method, METHODS)
    if not 0 < c.lr <= 100:
        raise ConfigError("lr", f"must be in (0, 100], got {c.lr}")
    _int_range("steps", c.steps, 1, LIMITS["steps"])
    _int_range("starts", c.starts, 1, LIMITS["starts"])
    if not 0 < c.tol < 1:
        raise ConfigError("tol", f"must be in (0, 1), got {c.tol}")
    if not 0 < c.eps < 1:
        raise ConfigError("eps", f"must be in (0, 1), got {c.eps}")
    _choice("dtype", c.dtype, DTYPES)
    _choice("device", c.device, DEVICES)


# Each preset is a set of overrides on the defaults; explicit values override a preset.
PRESETS: dict[str, dict] = {
    # Fig. 4 (a): 2-D latent, 2 -> 16 -> 1, kernel 5, stride 3, N(0, 1) weights, 50% random mask.
    "paper-fig4": dict(dim=2, channels=(2, 16, 1), kernel=(5,), stride=(3,), padding=(0,),
                       weights="gaussian", weight_std="unit", mask="random", rate=0.5,
                       z_star=(0.8, -0.5), extent=3.0),
    # The authors' MATLAB landscape script: 2 -> 4 -> 8 -> 16 -> 1, kernel 3, stride 2 (31×31),
    # weights randn / sqrt(k² C_out), the first 10% of pixels in column-major order.
    "authors-code": dict(dim=2, channels=(2, 4, 8, 16, 1), kernel=(3,), stride=(2,), padding=(0,),
                         weights="gaussian", weight_std="paper", mask="strip", rate=0.1,
                         z_star=(0.8, -0.5), extent=8.0),
    # Fig. 4 (d): the Fig. 4 net with U[0, 1] weights: a flat global minimum (mode collapse).
    "mode-collapse": dict(dim=2, channels=(2, 16, 1), kernel=(5,), stride=(3,), padding=(0,),
                          weights="uniform01", weight_std="unit", mask="random", rate=0.5,
                          z_star=(-0.6, -0.8), extent=3.0),
}


def from_preset(name: str, **overrides) -> Config:
    """A preset's config, with explicit ``overrides`` applied on top."""
    if name not in PRESETS:
        raise ConfigError("preset", f"must be one of {', '.join(PRESETS)}; got {name!r}")
    d = dict(PRESETS[name])
    d.update(overrides)
    return Config.from_dict(d)
