"""Export the example generator as a TorchScript file, the way a user ships a trained network.

    python examples/export_torchscript.py --out examples/own_generator.pt [--large]

A TorchScript file carries its own code, so the tool can load it without this repository's
``examples`` package (``--generator examples/own_generator.pt``). ``torch.jit.script`` keeps the
module's ``latent_dim`` and ``output_range`` attributes; a traced module (``torch.jit.trace``) does
not, and then needs ``--latent-dim``.
"""
from __future__ import annotations

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from examples.own_generator import build, build_large  # noqa: E402


def export(path: str, large: bool = False) -> str:
    """Script the example generator (``build`` or ``build_large``) and save it to ``path``; return ``path``."""
    module = (build_large if large else build)().eval()
    scripted = torch.jit.script(module)
    torch.jit.save(scripted, path)
    return path


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="examples/own_generator.pt", help="file to write (default: %(default)s)")
    p.add_argument("--large", action="store_true", help="the ~1 M parameter build_large() instead of build()")
    a = p.parse_args(argv)
    print(export(a.out, a.large))


if __name__ == "__main__":
    main()
