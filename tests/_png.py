"""Reading the contour's colour image back, independently of the code that writes it.

``decode_png_uri`` parses the PNG chunks by the format's specification (8-bit RGBA, rows filtered
with type 0 only, which is all the writer uses; anything else fails loudly), and
``reference_rgba`` colours values with plotly's own Python colour-scale sampling, not the
dashboard's interpolation.
"""
import base64
import struct
import zlib

import numpy as np
import plotly.colors


def decode_png_uri(uri: str) -> np.ndarray:
    """(height, width, 4) uint8 of a ``data:image/png;base64,`` URI; row 0 is the image's top."""
    head = "data:image/png;base64,"
    assert uri.startswith(head)
    png = base64.b64decode(uri[len(head):])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, ihdr = 8, b"", None
    while pos < len(png):
        (n,) = struct.unpack(">I", png[pos:pos + 4])
        kind, data = png[pos + 4:pos + 8], png[pos + 8:pos + 8 + n]
        (crc,) = struct.unpack(">I", png[pos + 8 + n:pos + 12 + n])
        assert crc == zlib.crc32(kind + data) & 0xFFFFFFFF, kind
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", data)
        elif kind == b"IDAT":
            idat += data
        pos += 12 + n
    w, h, depth, colour, _, _, interlace = ihdr
    assert (depth, colour, interlace) == (8, 6, 0)        # 8-bit RGBA, not interlaced
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(h, 1 + 4 * w)
    assert np.all(raw[:, 0] == 0)                          # filter type 0 (None) on every row
    return raw[:, 1:].reshape(h, w, 4)


def reference_rgba(values, lo: float, hi: float, stops) -> np.ndarray:
    """RGBA as plotly colours ``values`` with ``stops`` over [lo, hi] (clamped); NaN transparent."""
    values = np.asarray(values, dtype=float)
    t = np.clip((np.nan_to_num(values, nan=lo) - lo) / (hi - lo), 0, 1).ravel()
    rgb = np.array(plotly.colors.sample_colorscale([list(s) for s in stops], list(t), colortype="tuple"))
    out = np.empty(values.shape + (4,))
    out[..., :3] = (255 * rgb).reshape(values.shape + (3,))
    out[..., 3] = np.where(np.isfinite(values), 255, 0)
    return out


def contour_colours(fig) -> np.ndarray:
    """The colour image of a contour figure (a go.Figure or its JSON dict), rows as the grid's v
    (ascending), so that it lines up with J (M, N)."""
    layout = fig["layout"] if isinstance(fig, dict) else fig.layout.to_plotly_json()
    return decode_png_uri(layout["images"][0]["source"])[::-1]
