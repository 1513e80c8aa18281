"""The configuration: what the generator is, what is observed, the grid, and the solver.

A :class:`Config` is one frozen object made of four sections, each a frozen dataclass with its
own checks:

=================  =====================  ==========================================================
section            attribute              fields
=================  =====================  ==========================================================
generator          ``cfg.generator_spec``  the source SPEC (``conv`` = the random transposed-
                                          convolution family) and, for ``conv``, its architecture,
                                          activation and weight law; a class ``label`` for the
                                          shipped conditional generators
observation        ``cfg.observation``    the mask ``A``, its rate, the noise on ``y``, z*
grid               ``cfg.grid_spec``      the landscape window and its plane
solver             ``cfg.solver``         method, budget, tolerances, dtype and device
=================  =====================  ==========================================================

Every field name is unique across the sections, so the whole config is still *one* flat mapping:
``cfg.channels`` reads the generator section, ``Config(grid=101, mask="top")`` routes each key to
its section, and one JSON (:meth:`Config.to_json`) and one URL query string
(:meth:`Config.to_query`) carry everything. Unknown keys and values of the wrong type or outside
their range raise :class:`ConfigError`, whose message names the field and the allowed values.

Every bound on something a user can make large (grid, starts, steps, channel widths) lives in
:data:`LIMITS`, so the CLI, the API and the dashboard share it; the memory and work of a whole
request are bounded by :mod:`core.cost`.
"""
from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import parse_qsl, urlencode

ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "identity")
WEIGHT_LAWS = ("gaussian", "uniform", "rademacher", "uniform01", "bernoulli01")
ZERO_MEAN_LAWS = ("gaussian", "uniform", "rademacher")   # the laws Theorem 1 can speak of (E[W] = 0)
MASKS = ("identity", "random", "top", "bottom", "left", "right", "border", "center", "strip", "gaussian")
METHODS = ("lbfgs", "gauss_newton", "adam", "gd")
DEFAULT_METHOD = "lbfgs"
PLANES = ("auto", "latent", "star", "endpoint", "pca", "hessian")
DTYPES = ("float32", "float64")
DEVICES = ("auto", "cpu", "cuda")
SHIPPED = ("mnist", "fashion", "mnist-info", "fashion-info")   # generators in assets/
CONV = "conv"                                                   # the random transposed-convolution family

# Upper bounds on everything that costs time or memory.
LIMITS = {
    "depth": 8,          # number of transposed-convolution layers
    "channel": 512,      # channels of one layer (n0 included)
    "latent": 512,       # n0 of any generator
    "kernel": 15,
    "stride": 15,
    "output_size": 1 << 18,  # entries of G(z) for one z
    "layer_size": 1 << 20,   # entries of any hidden layer for one z
    "grid": 1001,        # points per grid side
    "starts": 10000,     # descent starts
    "steps": 5000,       # descent iterations
    "extent": 1e4,
    "seed": 2**31 - 1,
    "spec": 4096,        # characters of a generator SPEC
}


class ConfigError(ValueError):
    """A configuration value is unknown, of the wrong type or out of range."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


# ---------------------------------------------------------------------------
# the four sections
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class GeneratorSpec:
    """What the generator is.

    ``generator`` is a SPEC: ``conv`` (the random family below), a shipped generator
    (``mnist``, ``fashion``, ``mnist-info``, ``fashion-info``), a path to a TorchScript file or to
    a state dict of the shipped DCGAN architecture, or ``package.module:callable``
    (see :mod:`core.generators.user`). The family's fields apply to ``conv`` only.
    """

    generator: str = CONV                 # source SPEC
    latent_dim: int = 0                   # n0 of a user module without a `latent_dim` attribute; 0: read it
    label: int = -1                       # class c of a conditional generator; -1: drawn from z_seed
    # --- the random transposed-convolution family G(z) = σ_d(W_d … σ(W_1 z)) ------------------
    dim: int = 2                          # 1-D or 2-D convolutions
    channels: tuple = (2, 16, 1)          # C_0 = n0, C_1, ..., C_d
    kernel: tuple = (5,)                  # one value for all layers, or one per layer
    stride: tuple = (3,)                  # idem
    padding: tuple = (0,)                 # idem (PyTorch ConvTranspose padding: crops the output)
    activation: str = "relu"              # σ after every layer
    negative_slope: float = 0.2           # leaky ReLU slope
    last_activation: str = ""             # σ_d of the last layer; "" means the same as `activation`
    weights: str = "gaussian"             # weight law, see WEIGHT_LAWS
    weight_std: str = "unit"              # "unit" = N(0,1) as stated for Fig. 4, "paper" = 1/sqrt(C_out k^dim), or a number
    weight_seed: int = 0

    def __post_init__(self):
        _check_types(self)
        _validate_generator(self)

    @property
    def is_conv(self) -> bool:
        return self.generator == CONV


@dataclass(frozen=True)
class ObservationSpec:
    """What is observed: ``y = A G(z*) + noise``."""

    mask: str = "random"
    rate: float = 0.5                     # requested sampling rate r = m / n
    mask_seed: int = 0
    noise: str = "none"                   # none | gaussian:SIGMA | quantize:BITS (see core.masks.parse_noise)
    noise_seed: int = 0
    z_star: tuple = ()                    # empty: drawn N(0, I) from z_seed
    z_seed: int = 0

    def __post_init__(self):
        _check_types(self)
        _validate_observation(self)


@dataclass(frozen=True)
class GridSpec:
    """The landscape's window: a plane of the latent space and a grid on it."""

    grid: int = 201                       # points per side (M = N = grid)
    extent: float = 3.0                   # half-width of the window, in latent units
    plane: str = "auto"                   # see PLANES and core.planes
    plane_seed: int = 0                   # seed of a random direction of the plane

    def __post_init__(self):
        _check_types(self)
        _int_range("grid", self.grid, 3, LIMITS["grid"])
        if not 0 < self.extent <= LIMITS["extent"]:
            raise ConfigError("extent", f"must be in (0, {LIMITS['extent']:g}], got {self.extent}")
        _choice("plane", self.plane, PLANES)
        _int_range("plane_seed", self.plane_seed, 0, LIMITS["seed"])


@dataclass(frozen=True)
class SolverSpec:
    """How J is minimised (:mod:`core.solvers`) and how its end points are judged (:mod:`core.diagnosis`)."""

    method: str = DEFAULT_METHOD          # lbfgs | gauss_newton | adam | gd
    lr: float = 0.1                       # Adam's learning rate; GD's first trial step
    damping: float = 1.0                  # Levenberg–Marquardt λ₀ relative to diag(JᵀJ); 0: pure Gauss–Newton first
    steps: int = 500                      # iterations per start (the budget)
    starts: int = 100
    start_seed: int = 0
    negate: bool = False                  # the authors' restart: solve again from −ẑ, keep the better
    tol: float = 1e-3                     # recovered if ‖ẑ − z*‖ ≤ tol ‖z*‖
    ftol: float = 0.0                     # stop once J ≤ ftol · ½‖y‖²; 0: the dtype's default
    eps: float = 0.15                     # radius factor of B(z*, ε‖z*‖) and B(−ρ z*, ε‖z*‖)
    dtype: str = "float32"
    device: str = "auto"

    def __post_init__(self):
        _check_types(self)
        _choice("method", self.method, METHODS)
        if not 0 < self.lr <= 100:
            raise ConfigError("lr", f"must be in (0, 100], got {self.lr}")
        if not 0 <= self.damping <= 1e6:
            raise ConfigError("damping", f"must be in [0, 1e6], got {self.damping}")
        _int_range("steps", self.steps, 1, LIMITS["steps"])
        _int_range("starts", self.starts, 1, LIMITS["starts"])
        _int_range("start_seed", self.start_seed, 0, LIMITS["seed"])
        if not 0 < self.tol < 1:
            raise ConfigError("tol", f"must be in (0, 1), got {self.tol}")
        if not 0 <= self.ftol < 1:
            raise ConfigError("ftol", f"must be in [0, 1), got {self.ftol}")
        if not 0 < self.eps < 1:
            raise ConfigError("eps", f"must be in (0, 1), got {self.eps}")
        _choice("dtype", self.dtype, DTYPES)
        _choice("device", self.device, DEVICES)


SECTIONS = {"generator_spec": GeneratorSpec, "observation": ObservationSpec, "grid_spec": GridSpec,
            "solver": SolverSpec}
_SECTION_OF = {f.name: sec for sec, cls in SECTIONS.items() for f in fields(cls)}
_FIELD_TYPES = {f.name: type(f.default) for cls in SECTIONS.values() for f in fields(cls)}
FIELDS = tuple(_SECTION_OF)            # every flat field name, section by section
_TUPLE_INT = {"channels", "kernel", "stride", "padding"}


@dataclass(frozen=True, init=False)
class Config:
    """Everything that defines one landscape / solve / experiment, as four sections.

    Built from flat keyword arguments (``Config(channels=(2, 8, 1), mask="top")``); every flat
    field is readable as an attribute (``cfg.channels``). For the ``conv`` family the generator
    is ``G(z) = σ_d(W_d … σ(W_1 z))`` with ``W_i`` transposed convolutions; ``z ∈ R^{n0}`` enters
    as ``n0`` channels of a 1-sample (1-D) or 1×1 (2-D) signal, so ``n0 = channels[0]``.
    """

    generator_spec: GeneratorSpec
    observation: ObservationSpec
    grid_spec: GridSpec
    solver: SolverSpec

    def __init__(self, **flat):
        parts: dict[str, dict] = {s: {} for s in SECTIONS}
        for k, v in flat.items():
            if k not in _SECTION_OF:
                raise ConfigError(k, f"unknown key; allowed keys are {', '.join(sorted(FIELDS))}")
            parts[_SECTION_OF[k]][k] = v
        for sec, cls in SECTIONS.items():
            object.__setattr__(self, sec, cls(**parts[sec]))
        _validate_across(self)

    def __getattr__(self, name: str):
        sec = _SECTION_OF.get(name)
        if sec is None:
            raise AttributeError(f"Config has no field {name!r}")
        return getattr(object.__getattribute__(self, sec), name)

    # ---- derived --------------------------------------------------------
    @property
    def depth(self) -> int:
        return len(self.channels) - 1

    @property
    def n0(self) -> int:
        """Latent dimension where the config alone fixes it (conv family, shipped generators), else 0."""
        if self.generator == CONV:
            return self.channels[0]
        if self.generator in SHIPPED:
            return 10
        return self.latent_dim

    def per_layer(self, name: str) -> tuple:
        """Kernel, stride or padding expanded to one value per layer."""
        v = getattr(self, name)
        return v * self.depth if len(v) == 1 else v

    @property
    def last(self) -> str:
        return self.last_activation or self.activation

    def layer_sizes(self) -> list[int]:
        """Spatial length (per axis) of every layer's output, input first (1)."""
        return _layer_sizes(self.generator_spec)

    def output_shape(self) -> tuple:
        """Output shape of the conv family, or of the shipped generators."""
        if self.generator in SHIPPED:
            return (1, 32, 32)
        return (self.channels[-1],) + (self.layer_sizes()[-1],) * self.dim

    def replace(self, **changes) -> "Config":
        d = self.to_dict()
        d.update({k: _coerce(k, v) for k, v in changes.items()})
        return Config.from_dict(d)

    # ---- serialisation --------------------------------------------------
    def to_dict(self) -> dict:
        """The flat mapping of every field (tuples as lists)."""
        return {k: (list(v) if isinstance(v := getattr(self, k), tuple) else v) for k in FIELDS}

    @classmethod
    def from_dict(cls, d: dict) -> "Config":
        if not isinstance(d, dict):
            raise ConfigError("config", f"expected a mapping, got {type(d).__name__}")
        for k in d:
            if not isinstance(k, str) or k not in _SECTION_OF:
                raise ConfigError(str(k), f"unknown key; allowed keys are {', '.join(sorted(FIELDS))}")
        return cls(**{k: _coerce(k, v) for k, v in d.items()})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, s) -> "Config":
        if not isinstance(s, (str, bytes)):
            raise ConfigError("config", f"expected JSON text, got {type(s).__name__}")
        try:
            d = json.loads(s)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ConfigError("config", f"not valid JSON ({getattr(e, 'msg', e)})") from None
        return cls.from_dict(d)

    def to_query(self, only_changed: bool = True) -> str:
        """URL query string; by default only the fields that differ from the defaults."""
        default = _DEFAULT
        items = []
        for k in FIELDS:
            v = getattr(self, k)
            if only_changed and v == getattr(default, k):
                continue
            items.append((k, _to_text(v)))
        return urlencode(items)

    @classmethod
    def from_query(cls, query: str) -> "Config":
        query = query.lstrip("?")
        d = {}
        for k, v in parse_qsl(query, keep_blank_values=True):
            d[k] = _from_text(k, v)
        return cls.from_dict(d)


# ---------------------------------------------------------------------------
# text ↔ values
# ---------------------------------------------------------------------------
def _to_text(v) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, tuple):
        return ",".join(repr(x) if isinstance(x, float) else str(x) for x in v)
    return repr(v) if isinstance(v, float) else str(v)


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def parse_bool(name: str, text: str) -> bool:
    t = str(text).strip().lower()
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    raise ConfigError(name, f"expected 0 or 1 (or true/false), got {text!r}")


def _from_text(name: str, text: str):
    """Parse one query/CLI value; type errors are reported by ``_coerce``."""
    if name not in _FIELD_TYPES:
        return text
    t = _FIELD_TYPES[name]
    try:
        if t is bool:
            return parse_bool(name, text)
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
    if t is bool and isinstance(v, int) and not isinstance(v, bool) and v in (0, 1):
        return bool(v)
    return v


# ---------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------
def _check_type(name: str, v, t):
    if t is bool and not isinstance(v, bool):
        raise ConfigError(name, f"expected true or false, got {v!r}")
    if t is int and (not isinstance(v, int) or isinstance(v, bool)):
        raise ConfigError(name, f"expected an integer, got {v!r}")
    if t is float and (not isinstance(v, float) or not math.isfinite(v)):
        raise ConfigError(name, f"expected a finite number, got {v!r}")
    if t is str and not isinstance(v, str):
        raise ConfigError(name, f"expected a string, got {v!r}")


def _check_types(section) -> None:
    for f in fields(section):
        v = getattr(section, f.name)
        t = _FIELD_TYPES[f.name]
        if t is tuple:
            if not isinstance(v, tuple):
                raise ConfigError(f.name, f"expected a list, got {v!r}")
            if len(v) > 64:
                raise ConfigError(f.name, f"at most 64 entries, got {len(v)}")
            for x in v:
                _check_type(f.name, x, int if f.name in _TUPLE_INT else float)
        else:
            _check_type(f.name, v, t)


def _int_range(name, v, lo, hi):
    if not lo <= v <= hi:
        raise ConfigError(name, f"must be in [{lo}, {hi}], got {v}")


def _choice(name, v, allowed):
    if v not in allowed:
        raise ConfigError(name, f"must be one of {', '.join(allowed)}; got {v!r}")


def _layer_sizes(g: GeneratorSpec) -> list[int]:
    d = len(g.channels) - 1
    per = lambda v: v * d if len(v) == 1 else v   # noqa: E731
    sizes = [1]
    for k, s, p in zip(per(g.kernel), per(g.stride), per(g.padding)):
        sizes.append((sizes[-1] - 1) * s - 2 * p + k)
    return sizes


_MODULE_SPEC = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def spec_kind(spec: str) -> str:
    """``conv``, ``shipped``, ``module`` (``package.module:callable``) or ``file`` (a path)."""
    if spec == CONV:
        return "conv"
    if spec in SHIPPED:
        return "shipped"
    if _MODULE_SPEC.match(spec):
        return "module"
    return "file"


def _validate_generator(g: GeneratorSpec):
    if not g.generator or len(g.generator) > LIMITS["spec"] or "\x00" in g.generator:
        raise ConfigError("generator", f"must be conv, {', '.join(SHIPPED)}, a file path or module:callable "
                                       f"(1 to {LIMITS['spec']} characters)")
    _int_range("latent_dim", g.latent_dim, 0, LIMITS["latent"])
    _int_range("label", g.label, -1, 9)
    _int_range("dim", g.dim, 1, 2)
    if not 2 <= len(g.channels) <= LIMITS["depth"] + 1:
        raise ConfigError("channels", f"needs between 2 and {LIMITS['depth'] + 1} entries (n0, C1, ..., Cd), got {len(g.channels)}")
    for x in g.channels:
        _int_range("channels", x, 1, LIMITS["channel"])
    d = len(g.channels) - 1
    for name in ("kernel", "stride", "padding"):
        v = getattr(g, name)
        if len(v) not in (1, d):
            raise ConfigError(name, f"give one value or one per layer ({d}), got {len(v)}")
    per = lambda v: v * d if len(v) == 1 else v   # noqa: E731
    for k in per(g.kernel):
        _int_range("kernel", k, 1, LIMITS["kernel"])
    for s in per(g.stride):
        _int_range("stride", s, 1, LIMITS["stride"])
    for p, k in zip(per(g.padding), per(g.kernel)):
        _int_range("padding", p, 0, k - 1)
    sizes = _layer_sizes(g)
    for i, (size, ch) in enumerate(zip(sizes[1:], g.channels[1:]), start=1):
        if size < 1:
            raise ConfigError("padding", f"layer {i} output would be empty (size {size}); lower the padding")
        if ch * size ** g.dim > LIMITS["layer_size"]:
            raise ConfigError("channels", f"layer {i} has {ch * size ** g.dim} entries per sample; the limit is {LIMITS['layer_size']}")
    if g.channels[-1] * sizes[-1] ** g.dim > LIMITS["output_size"]:
        raise ConfigError("channels", f"the output has more than {LIMITS['output_size']} entries")
    _choice("activation", g.activation, ACTIVATIONS)
    if g.last_activation:
        _choice("last_activation", g.last_activation, ACTIVATIONS)
    if not 0.0 <= g.negative_slope <= 1.0:
        raise ConfigError("negative_slope", f"must be in [0, 1], got {g.negative_slope}")
    _choice("weights", g.weights, WEIGHT_LAWS)
    if g.weight_std not in ("unit", "paper"):
        try:
            s = float(g.weight_std)
        except ValueError:
            raise ConfigError("weight_std", f"must be 'unit', 'paper' or a positive number, got {g.weight_std!r}") from None
        if not (math.isfinite(s) and 0 < s <= 1e3):
            raise ConfigError("weight_std", f"must be 'unit', 'paper' or a number in (0, 1000], got {g.weight_std!r}")
    _int_range("weight_seed", g.weight_seed, 0, LIMITS["seed"])


def _validate_observation(o: ObservationSpec):
    _choice("mask", o.mask, MASKS)
    if not 0.0 < o.rate <= 1.0:
        raise ConfigError("rate", f"must be in (0, 1], got {o.rate}")
    from .masks import parse_noise   # the noise models' own parser names the field
    parse_noise(o.noise)
    for name in ("mask_seed", "noise_seed", "z_seed"):
        _int_range(name, getattr(o, name), 0, LIMITS["seed"])
    if o.z_star:
        if len(o.z_star) > LIMITS["latent"]:
            raise ConfigError("z_star", f"at most {LIMITS['latent']} entries, got {len(o.z_star)}")
        if max(abs(x) for x in o.z_star) > LIMITS["extent"]:
            raise ConfigError("z_star", f"entries must be in [-{LIMITS['extent']:g}, {LIMITS['extent']:g}]")
        # Below this, z* (and J near it) underflow in float32: reject rather than compute NaN.
        if math.sqrt(sum(x * x for x in o.z_star)) < 1e-6:
            raise ConfigError("z_star", "must be nonzero with ‖z*‖ ≥ 1e-6 (the theory is about z* ≠ 0; "
                                        "smaller codes underflow in float32)")


def _validate_across(c: Config):
    n0 = c.n0
    if c.z_star and n0 and len(c.z_star) != n0:
        raise ConfigError("z_star", f"needs n0 = {n0} entries, got {len(c.z_star)}")
    if c.generator == CONV and c.dim == 1 and c.mask in ("top", "bottom"):
        raise ConfigError("mask", "top/bottom need a 2-D output; use left/right for dim 1")
    if c.generator in SHIPPED and c.latent_dim not in (0, 10):
        raise ConfigError("latent_dim", f"the shipped generators have n0 = 10, got {c.latent_dim}")


_DEFAULT = Config()

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
    """A preset's config, with explicit ``overrides`` applied on top.

    A preset's z* belongs to its latent size: when the overrides change n0 (other ``channels``,
    another generator) and give no z*, z* is drawn N(0, I) from ``z_seed`` instead.
    """
    if name not in PRESETS:
        raise ConfigError("preset", f"must be one of {', '.join(PRESETS)}; got {name!r}")
    d = dict(PRESETS[name])
    if "z_star" not in overrides and ("channels" in overrides or "generator" in overrides):
        probe = Config.from_dict({k: v for k, v in {**d, **overrides}.items() if k != "z_star"})
        if probe.n0 != len(d["z_star"]):
            d.pop("z_star")
    d.update(overrides)
    return Config.from_dict(d)
