"""A minimal PNG writer (standard library only) and an image grid, for sample sheets."""
from __future__ import annotations

import pathlib
import struct
import zlib

import numpy as np

__all__ = ["write_png", "image_grid", "to_uint8"]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png(path, image: np.ndarray) -> None:
    """Write an 8-bit greyscale (H, W) or RGB (H, W, 3) array as a PNG file (filter 0 on every row)."""
    a = np.ascontiguousarray(image, dtype=np.uint8)
    if a.ndim == 2:
        colour, rows = 0, a
    elif a.ndim == 3 and a.shape[2] == 3:
        colour, rows = 2, a.reshape(a.shape[0], -1)
    else:
        raise ValueError(f"image: expected (H, W) or (H, W, 3), got {a.shape}")
    raw = np.concatenate([np.zeros((rows.shape[0], 1), np.uint8), rows], 1).tobytes()
    ihdr = struct.pack(">IIBBBBB", a.shape[1], a.shape[0], 8, colour, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b"")
    pathlib.Path(path).write_bytes(data)


def to_uint8(x: np.ndarray, lo: float = -1.0, hi: float = 1.0) -> np.ndarray:
    """Values in [lo, hi] → uint8 0..255 (clipped)."""
    return np.round(np.clip((np.asarray(x, float) - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)


def image_grid(images: np.ndarray, ncol: int, pad: int = 2, scale: int = 1, fill: int = 128) -> np.ndarray:
    """Tile (N, H, W) uint8 images into one (rows·(H+pad)+pad, ncol·(W+pad)+pad) uint8 image.

    ``scale`` repeats every pixel (nearest neighbour) so small images stay visible.
    """
    a = np.asarray(images, np.uint8)
    if scale > 1:
        a = a.repeat(scale, 1).repeat(scale, 2)
    n, h, w = a.shape
    nrow = -(-n // ncol)
    out = np.full((nrow * (h + pad) + pad, ncol * (w + pad) + pad), fill, np.uint8)
    for i in range(n):
        r, c = divmod(i, ncol)
        out[pad + r * (h + pad): pad + r * (h + pad) + h, pad + c * (w + pad): pad + c * (w + pad) + w] = a[i]
    return out
