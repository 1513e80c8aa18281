"""The paper's conditional DCGAN (Fig. 5): generator, matching discriminator, checked loading.

Generator ``G(z, c)``: the latent code ``z ∈ R^10`` and the one-hot class ``c`` are stacked as 20
channels of a 1×1 image, then four transposed convolutions (kernel 4) take it to 1×32×32::

    (10+10)×1×1 → 128×4×4 → 64×8×8 → 32×16×16 → 1×32×32
      ConvT s1 p0   ConvT s2 p1  ConvT s2 p1   ConvT s2 p1
      BN, LReLU     BN, LReLU    BN, LReLU     tanh

Batch norm and leaky ReLU (slope 0.2) follow the first three layers, tanh the last, as the paper
states. The discriminator mirrors it with convolutions; the class enters as 10 constant planes
stacked onto the image. Widths 128/64/32 keep the generator at about 0.8 MB of float32 weights,
small enough to train on two CPU cores.

Inversion uses the generator in ``eval()`` mode, so batch norm applies its stored running
statistics and ``G`` is a fixed deterministic function of ``(z, c)``.

Loading is checked: the file's SHA-256 must match the ``weights_sha256`` of its model card (the
shipped generators ``mnist``, ``fashion``, ``mnist-info``, ``fashion-info`` always have one), then
``torch.load(weights_only=True)`` reads it and the key names and shapes must fit the architecture;
any failure is a one-line ``ValueError`` naming the file.
"""
from __future__ import annotations

import functools
import hashlib
import io
import json
import pathlib

import torch
from torch import nn

from .idx import PROJECT_ROOT

__all__ = ["N_LATENT", "N_CLASSES", "Generator", "InferenceGenerator", "Discriminator", "init_weights", "check_state_dict",
           "load_generator", "load_state", "check_sha256", "ASSETS", "GENERATORS", "dataset_of", "shipped_generator",
           "read_card", "shipped_sha256"]

N_LATENT = 10      # n0 in the paper's notation
N_CLASSES = 10
ASSETS = PROJECT_ROOT / "assets"
# Shipped as assets/<name>_generator.pt + .json. "mnist" and "fashion" are the paper's plain
# conditional DCGAN; "<dataset>-info" add InfoGAN's latent regression (see core.trained.train).
GENERATORS = ("mnist", "fashion", "mnist-info", "fashion-info")


def dataset_of(name: str) -> str:
    """The dataset (a key of :data:`core.trained.idx.DATASETS`) the generator ``name`` was trained on.

    ``"mnist"`` and ``"mnist-info"`` → ``"mnist"``; ``"fashion"`` and ``"fashion-info"`` → ``"fashion"``.
    """
    if name not in GENERATORS:
        raise ValueError(f"generator: must be one of {', '.join(GENERATORS)}, got {name!r}")
    return name.split("-", 1)[0]


class Generator(nn.Module):
    """Conditional DCGAN generator ``G: (z, c) → x``.

    Parameters
    ----------
    width : int, default 32
        Channels of the last hidden layer; the others are 2× and 4× that.
    negative_slope : float, default 0.2
    """

    def __init__(self, width: int = 32, negative_slope: float = 0.2):
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.ConvTranspose2d(N_LATENT + N_CLASSES, 4 * w, 4, 1, 0, bias=False),
            nn.BatchNorm2d(4 * w), nn.LeakyReLU(negative_slope),
            nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1, bias=False),
            nn.BatchNorm2d(2 * w), nn.LeakyReLU(negative_slope),
            nn.ConvTranspose2d(2 * w, w, 4, 2, 1, bias=False),
            nn.BatchNorm2d(w), nn.LeakyReLU(negative_slope),
            nn.ConvTranspose2d(w, 1, 4, 2, 1, bias=False),
            nn.Tanh(),
        )

    @property
    def convs(self) -> list[nn.ConvTranspose2d]:
        """The four transposed convolutions ``W1..W4``, input first."""
        return [m for m in self.net if isinstance(m, nn.ConvTranspose2d)]

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """``x = G(z, c)``.

        Parameters
        ----------
        z : torch.Tensor, shape (B, 10)
        labels : torch.Tensor of int64, shape (B,), values 0..9

        Returns
        -------
        x : torch.Tensor, shape (B, 1, 32, 32), values in (−1, 1)
        """
        onehot = nn.functional.one_hot(labels.long(), N_CLASSES).to(z.dtype)
        return self.net(torch.cat([z, onehot], 1)[:, :, None, None])


class InferenceGenerator(nn.Module):
    """The same function as an eval-mode :class:`Generator`, rewritten for fast evaluation and gradients.

    Built by :meth:`from_generator`; used wherever a shipped generator is inverted or scanned
    (:func:`core.generators.build_generator`). Three rewrites, none of which changes the function
    (a test checks it against the :class:`Generator` in float64):

    * eval-mode batch norm is an affine map per channel, ``γ (x − μ) / sqrt(σ² + ε) + β``, so it is
      folded into the transposed convolution before it (scaled weights and a bias);
    * the first layer sees a 1×1 image of ``[z, one-hot(c)]``: it is a matrix product ``z W_z``
      plus a bias table indexed by the class (the class's weights and the folded batch norm);
    * the hidden feature maps are kept channels-last, which oneDNN's transposed convolutions run
      faster on a CPU.

    On one CPU thread, J and ∇J of 100 codes take about 20 % less time than with the
    :class:`Generator` (``benchmarks/NOTES.md``).
    """

    def __init__(self, w_z: torch.Tensor, bias_c: torch.Tensor, convs: list, negative_slope: float, channels: int):
        super().__init__()
        self.register_buffer("w_z", w_z)            # (10, C·16)
        self.register_buffer("bias_c", bias_c)      # (10 classes, C·16)
        for i, (w, b) in enumerate(convs):
            self.register_buffer(f"w{i}", w)
            self.register_buffer(f"b{i}", b)
        self.layers = len(convs)
        self.negative_slope = float(negative_slope)
        self.channels = int(channels)

    @classmethod
    @torch.no_grad()
    def from_generator(cls, G: Generator) -> "InferenceGenerator":
        """The rewritten ``G`` (its weights copied; ``G`` is left as it is)."""
        mods = list(G.net)
        slope = next(m.negative_slope for m in mods if isinstance(m, nn.LeakyReLU))
        pairs, i = [], 0
        while i < len(mods):
            m = mods[i]
            if isinstance(m, nn.ConvTranspose2d):
                w = m.weight.detach().clone()
                b = torch.zeros(w.shape[1], dtype=w.dtype, device=w.device) if m.bias is None else m.bias.detach().clone()
                if i + 1 < len(mods) and isinstance(mods[i + 1], nn.BatchNorm2d):
                    bn = mods[i + 1]
                    s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                    w, b = w * s[None, :, None, None], (b - bn.running_mean) * s + bn.bias
                pairs.append((w, b))
            i += 1
        (w1, b1), rest = pairs[0], pairs[1:]
        C = w1.shape[1]
        flat = w1.reshape(N_LATENT + N_CLASSES, C * 16)          # (in, C·4·4), channel-major like reshape(C, 4, 4)
        bias_c = flat[N_LATENT:] + b1.repeat_interleave(16)[None]
        return cls(flat[:N_LATENT].contiguous(), bias_c.contiguous(), rest, slope, C)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """``x = G(z, c)``: z (B, 10), labels (B,) int → (B, 1, 32, 32)."""
        F = nn.functional
        h = (z @ self.w_z + self.bias_c[labels.long()]).reshape(-1, self.channels, 4, 4)
        h = F.leaky_relu(h, self.negative_slope).contiguous(memory_format=torch.channels_last)
        for i in range(self.layers):
            h = F.conv_transpose2d(h, getattr(self, f"w{i}"), getattr(self, f"b{i}"), stride=2, padding=1)
            h = F.leaky_relu(h, self.negative_slope) if i + 1 < self.layers else torch.tanh(h)
        return h.contiguous()


class Discriminator(nn.Module):
    """Conditional DCGAN discriminator ``D: (x, c) → logit``, the generator's mirror image.

    It also carries InfoGAN's ``Q`` head (Chen et al. 2016): a linear read-out of the last
    feature map that estimates the latent code, ``q(x, c) ≈ z`` for ``x = G(z, c)``. Training
    with the latent-regression term ``λ·‖q(G(z, c)) − z‖²`` keeps every latent direction visible
    in the image (see :mod:`core.trained.train`).
    """

    def __init__(self, width: int = 32, negative_slope: float = 0.2):
        super().__init__()
        w = width
        self.trunk = nn.Sequential(
            nn.Conv2d(1 + N_CLASSES, w, 4, 2, 1, bias=False), nn.LeakyReLU(negative_slope),
            nn.Conv2d(w, 2 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * w), nn.LeakyReLU(negative_slope),
            nn.Conv2d(2 * w, 4 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(4 * w), nn.LeakyReLU(negative_slope),
        )
        self.head = nn.Conv2d(4 * w, 1, 4, 1, 0, bias=False)
        self.q = nn.Linear(4 * w * 16, N_LATENT)

    def forward(self, x: torch.Tensor, labels: torch.Tensor, with_q: bool = False):
        """Logits (B,) that ``x`` is a real image of class ``labels``; with ``with_q``, also q (B, 10)."""
        onehot = nn.functional.one_hot(labels.long(), N_CLASSES).to(x.dtype)
        planes = onehot[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
        h = self.trunk(torch.cat([x, planes], 1))
        logit = self.head(h).flatten()
        return (logit, self.q(h.flatten(1))) if with_q else logit


def init_weights(module: nn.Module, generator: torch.Generator) -> None:
    """DCGAN initialisation (Radford et al. 2016): conv/linear weights N(0, 0.02²), biases 0, BN γ ~ N(1, 0.02²), β = 0.

    Draws come from ``generator`` only, so the global RNG is left alone.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02, generator=generator)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02, generator=generator)
            nn.init.zeros_(m.bias)


def check_state_dict(state: dict, model: nn.Module, what: str = "state dict") -> None:
    """Raise if ``state`` does not have exactly ``model``'s key names and tensor shapes.

    Raises
    ------
    ValueError
        Naming the missing keys, the unexpected keys, or the first key with a wrong shape.
    """
    if not isinstance(state, dict):
        raise ValueError(f"{what}: expected a dict of tensors, got {type(state).__name__}")
    ref = model.state_dict()
    missing = sorted(set(ref) - set(state))
    unexpected = sorted(set(state) - set(ref))
    if missing or unexpected:
        raise ValueError(f"{what}: key names do not match the architecture; missing {missing}, unexpected {unexpected}")
    for k, v in ref.items():
        t = state[k]
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"{what}: {k} is a {type(t).__name__}, expected a tensor of shape {tuple(v.shape)}")
        if tuple(t.shape) != tuple(v.shape):
            raise ValueError(f"{what}: {k} has shape {tuple(t.shape)}, expected {tuple(v.shape)}")
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise ValueError(f"{what}: {k} holds non-finite values")


def _one_line(e: BaseException, limit: int = 160) -> str:
    msg = " ".join(str(e).split())
    return f"{type(e).__name__}: {msg[:limit] + '…' if len(msg) > limit else msg}" if msg else type(e).__name__


def check_sha256(path, expected: str, data: bytes | None = None) -> None:
    """Raise ``ValueError("<path>: SHA-256 mismatch ...")`` unless the file's SHA-256 is ``expected`` (hex).

    ``data``: the file's bytes when already read (they are hashed instead of reading ``path`` again).
    """
    path = pathlib.Path(path)
    got = hashlib.sha256(path.read_bytes() if data is None else data).hexdigest()
    if got != str(expected).strip().lower():
        raise ValueError(f"{path}: SHA-256 mismatch (file {got[:16]}…, card {str(expected)[:16]}…); "
                         "the weights file was altered or is not the one its card describes")


def _card_sha256(path: pathlib.Path) -> str | None:
    """``weights_sha256`` of the card beside ``path`` (``x.pt`` → ``x.json``); None without a card or field."""
    card = path.with_suffix(".json")
    if not card.is_file():
        return None
    try:
        sha = json.loads(card.read_text()).get("weights_sha256")
    except (OSError, ValueError, AttributeError) as e:
        raise ValueError(f"{card}: unreadable model card ({_one_line(e)})") from None
    return sha or None


def load_state(path, model: nn.Module, sha256: str | None = None) -> nn.Module:
    """Load a state dict saved by ``torch.save`` into ``model`` after :func:`check_state_dict`; eval mode.

    Before ``torch.load`` (``weights_only=True``), the file's SHA-256 is checked against ``sha256``,
    or, when that is None, against the ``weights_sha256`` of the model card beside the file
    (``<stem>.json``) if there is one.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        One line naming ``path``: a SHA-256 mismatch, a file ``torch.load`` cannot read (truncated,
        garbled, text), or a state dict that does not fit ``model``.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: weights file not found")
    expected = sha256 if sha256 is not None else _card_sha256(path)
    data = path.read_bytes()   # hashed and loaded from the same bytes
    if expected:
        check_sha256(path, expected, data)
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:   # torch raises RuntimeError, UnpicklingError, EOFError, ... on damaged files
        raise ValueError(f"{path}: not a readable torch weights file ({_one_line(e)})") from None
    check_state_dict(state, model, str(path))
    model.load_state_dict(state)
    return model.eval()


def load_generator(path, width: int = 32, sha256: str | None = None) -> Generator:
    """A :class:`Generator` with the weights of ``path``, in eval mode, float32 (SHA-256 checked as in :func:`load_state`)."""
    return load_state(path, Generator(width), sha256)


def read_card(name: str, kind: str = "generator") -> dict:
    """The JSON model card ``assets/<name>_<kind>.json``."""
    return json.loads((ASSETS / f"{name}_{kind}.json").read_text())


def shipped_sha256(card: dict, what: str) -> str:
    """The card's ``weights_sha256``; a shipped asset must have one."""
    sha = card.get("weights_sha256")
    if not sha:
        raise ValueError(f"{what}: its model card has no weights_sha256")
    return sha


@functools.lru_cache(maxsize=4)
def shipped_generator(name: str = "mnist") -> Generator:
    """The shipped generator ``assets/<name>_generator.pt`` (cached; do not modify it in place)."""
    if name not in GENERATORS:
        raise ValueError(f"generator: must be one of {', '.join(GENERATORS)}, got {name!r}")
    card = read_card(name)
    path = ASSETS / f"{name}_generator.pt"
    G = load_generator(path, width=card["architecture"]["width"], sha256=shipped_sha256(card, str(path)))
    for p in G.parameters():
        p.requires_grad_(False)
    return G
