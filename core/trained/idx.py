"""MNIST / Fashion-MNIST from their original IDX ``.gz`` files, rescaled to 32×32.

The files are read directly (no torchvision, no download) from torchvision's layout
``<root>/MNIST/raw/`` and ``<root>/FashionMNIST/raw/``. The paper trains at 32×32; we get there by
**bilinear resizing** 28→32 (``torch.nn.functional.interpolate``, ``align_corners=False``, the
behaviour of ``torchvision.transforms.Resize(32)`` on tensors), not by zero padding, so the digit
fills the frame as it does in the paper's figures.

IDX format (LeCun et al.): a big-endian header ``0x00 0x00 <type> <ndim>`` (magic 2051 for
3-D ``uint8`` images, 2049 for 1-D ``uint8`` labels), then ``ndim`` big-endian int32 sizes, then
the data.
"""
from __future__ import annotations

import gzip
import pathlib
import zlib

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["DATASETS", "DEFAULT_DATA", "IDXError", "read_idx", "load_split", "to_32", "resize_32", "FILES"]

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_DATA = PROJECT_ROOT.parent / "shared" / "data"   # "../shared/data" seen from the project root

DATASETS = {"mnist": "MNIST", "fashion": "FashionMNIST"}   # our name → torchvision folder
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 60000),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 10000),
}
_MAGIC = {2051: 3, 2049: 1}   # magic → number of dimensions (uint8 data)


class IDXError(ValueError):
    """A data file is missing, unreadable or not the IDX file that was expected."""


def read_idx(path, magic: int) -> np.ndarray:
    """Read one gzip-compressed IDX file of unsigned bytes.

    Parameters
    ----------
    path : str or pathlib.Path
        A ``.gz`` IDX file.
    magic : {2051, 2049}
        Expected magic number: 2051 for images (N, rows, cols), 2049 for labels (N,).

    Returns
    -------
    numpy.ndarray of uint8, shape (N, rows, cols) or (N,)
        A read-only view of the decompressed bytes.

    Raises
    ------
    IDXError
        If the file is missing, not gzip, truncated, or its magic or size disagree with the header.
        The message names the file and what was expected.
    """
    path = pathlib.Path(path)
    kind = "images (magic 2051)" if magic == 2051 else "labels (magic 2049)"
    if not path.is_file():
        raise IDXError(f"{path}: file not found; expected the gzip-compressed IDX {kind} file "
                       f"in torchvision's <root>/MNIST/raw or <root>/FashionMNIST/raw layout")
    try:
        with gzip.open(path, "rb") as f:
            b = f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise IDXError(f"{path}: not a readable gzip file ({e}); expected the IDX {kind} file") from None
    ndim = _MAGIC[magic]
    header = 4 + 4 * ndim
    if len(b) < header:
        raise IDXError(f"{path}: {len(b)} bytes is too short for an IDX header; expected IDX {kind}")
    got = int.from_bytes(b[0:4], "big")
    if got != magic:
        raise IDXError(f"{path}: magic number {got}, expected {magic} for IDX {kind}")
    dims = tuple(int.from_bytes(b[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    size = int(np.prod(dims))
    if len(b) - header != size:
        raise IDXError(f"{path}: header announces {'×'.join(map(str, dims))} = {size} bytes of data, "
                       f"the file holds {len(b) - header}; the file is truncated or corrupt")
    return np.frombuffer(b, np.uint8, offset=header).reshape(dims)


def raw_dir(root, dataset: str) -> pathlib.Path:
    """``<root>/MNIST/raw`` or ``<root>/FashionMNIST/raw``."""
    if dataset not in DATASETS:
        raise ValueError(f"dataset: must be one of {', '.join(DATASETS)}, got {dataset!r}")
    return pathlib.Path(root) / DATASETS[dataset] / "raw"


def load_split(root=None, dataset: str = "mnist", split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of one split, as stored (28×28 uint8).

    Parameters
    ----------
    root : str or pathlib.Path, optional
        Data folder holding ``MNIST/raw`` and/or ``FashionMNIST/raw``; default :data:`DEFAULT_DATA`.
    dataset : {"mnist", "fashion"}
    split : {"train", "test"}

    Returns
    -------
    images : ndarray of uint8, shape (N, 28, 28)
    labels : ndarray of uint8, shape (N,)

    Raises
    ------
    IDXError
        On a missing or corrupt file, or when images and labels disagree in number or in the
        known size of the split.
    ValueError
        On an unknown ``dataset`` or ``split``.
    """
    if split not in FILES:
        raise ValueError(f"split: must be one of {', '.join(FILES)}, got {split!r}")
    folder = raw_dir(DEFAULT_DATA if root is None else root, dataset)
    img_name, lab_name, n = FILES[split]
    images = read_idx(folder / img_name, 2051)
    labels = read_idx(folder / lab_name, 2049)
    if images.shape != (n, 28, 28) or labels.shape != (n,):
        raise IDXError(f"{folder}: expected {n} images of 28×28 and {n} labels for the {split} split, "
                       f"got images {images.shape} and labels {labels.shape}")
    if labels.max() > 9:
        raise IDXError(f"{folder / lab_name}: labels must be 0..9, found {int(labels.max())}")
    return images, labels


def resize_32(x: torch.Tensor) -> torch.Tensor:
    """Bilinear resize (N, C, 28, 28) → (N, C, 32, 32), ``align_corners=False``; linear in ``x``."""
    return F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)


def to_32(images: np.ndarray) -> torch.Tensor:
    """uint8 28×28 images → float32 32×32 in [−1, 1] (the generator's tanh range).

    Parameters
    ----------
    images : ndarray of uint8, shape (N, 28, 28)

    Returns
    -------
    torch.Tensor, float32, shape (N, 1, 32, 32)
        Bilinear resize of ``images / 255`` (``align_corners=False``), then ``2 x − 1``, clamped.
    """
    x = torch.from_numpy(np.array(images, dtype=np.float32)).div_(255.0).unsqueeze(1)
    return resize_32(x).mul_(2.0).sub_(1.0).clamp_(-1.0, 1.0)
