"""Exports SGZ to ONNX with dynamic batch, height and width:
``python -m sgz_fast.export sgz.onnx [--weights W.pth] [--scale-factor 12]``.

The graph is the reference backend (plain PyTorch ops), so any ONNX runtime can run it; the
fused kernels are sgz_fast's own and do not export. Input "image" (N, 3, H, W) float32 in
[0, 1]; outputs "enhanced" and "x_r", both (N, 3, H, W).
"""
import argparse
import sys
from pathlib import Path

import torch

from .model import load_sgz


def export_onnx(path, weights=None, scale_factor=12, conv_type="dsc"):
    """Writes the ONNX graph of SGZ with `weights` (default: the bundled ones) to `path`."""
    return export_model(load_sgz(weights, scale_factor, conv_type, backend="reference"), path)


def export_model(model, path):
    """Writes the ONNX graph of `model` (an SGZ on its reference backend) to `path`."""
    s = model.scale_factor
    # Batch 2 and sizes big enough that no dimension is specialized away (a size-1 dimension
    # would be; the network runs at 1/scale_factor).
    example = torch.rand(2, 3, 4 * s + 5, 6 * s + 7)
    dims = {0: torch.export.Dim("batch", min=1), 2: torch.export.Dim("height", min=1),
            3: torch.export.Dim("width", min=1)}
    # external_data=False: the 40 KB of weights inside the one file (by default they went to
    # a second file, path + ".data", which the .onnx needs beside it)
    torch.onnx.export(model, (example,), str(path), dynamo=True, input_names=["image"],
                      output_names=["enhanced", "x_r"], dynamic_shapes={"x": dims},
                      external_data=False)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m sgz_fast.export",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("output", help="the .onnx file to write")
    parser.add_argument("--weights", default=None, help="state_dict (default: bundled)")
    parser.add_argument("--scale-factor", type=int, default=12)
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    if Path(args.output).exists() and not args.overwrite:
        parser.error(f"{args.output} exists already; pass --overwrite to replace it")
    if not Path(args.output).parent.is_dir():
        parser.error(f"no folder {Path(args.output).parent} to write {args.output} in")
    try:
        model = load_sgz(args.weights, args.scale_factor, backend="reference")
    except (ValueError, FileNotFoundError) as error:  # bad weights or scale: the reason alone
        parser.error(str(error))
    export_model(model, args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
