"""Batches of files to enhance, shared by sgz-enhance, sgz-classical and the comparison:
finding the inputs (files, folders, globs) with their output paths, checking the outputs can
be written, and the model as a callable on images (Enhancer)."""
import glob
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import imageio


@dataclass
class Job:
    source: Path
    target: Path

    @property
    def is_video(self):
        return self.source.suffix.lower() in imageio.VIDEO_SUFFIXES


def find_jobs(inputs, out_dir):
    """Every image and video named by `inputs` (files, folders searched recursively, globs),
    with its output path: the file's path under the folder it was found in, else its name."""
    suffixes = imageio.IMAGE_SUFFIXES | imageio.VIDEO_SUFFIXES
    jobs, missing = [], []
    for spec in inputs:
        named = Path(spec).exists()
        matches = [Path(spec)] if named else [Path(p) for p in
                                              sorted(glob.glob(spec, recursive=True))]
        if not matches:
            missing.append(spec)
        for path in matches:
            if not named and path.is_file() and path.suffix.lower() not in suffixes:
                continue  # a glob's other files (dir/*: a readme), as a folder's are skipped
            if path.is_dir():
                files = sorted(p for p in path.rglob("*")
                               if p.is_file() and p.suffix.lower() in suffixes)
                jobs += [Job(p, out_dir / p.relative_to(path)) for p in files]
            else:
                jobs.append(Job(path, out_dir / path.name))
    return jobs, missing


def check_targets(jobs, overwrite, mine=None):
    """The reason the planned outputs cannot be written, or None. `mine`: the jobs this process
    writes (its share, see shard), whose existing outputs count; default all."""
    sources = {job.source.resolve() for job in jobs}
    seen = {}
    for job in jobs:
        target = job.target.resolve()
        if target in sources:
            return f"{job.target} would overwrite an input; choose another output folder"
        if target in seen:
            return (f"{seen[target]} and {job.source} would both be written to {job.target}; "
                    "enhance them into separate output folders")
        seen[target] = job.source
    existing = [job.target for job in (jobs if mine is None else mine) if job.target.exists()]
    if existing and not overwrite:
        return (f"{len(existing)} output(s) exist already, e.g. {existing[0]}; pass --overwrite "
                "to replace them or choose another output folder")
    return None


def rank_and_world():
    """(this process's rank, the number of processes): torchrun's RANK and WORLD_SIZE, else
    (0, 1)."""
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    if not 0 <= rank < world:
        raise ValueError(f"RANK={rank} is not in [0, WORLD_SIZE={world})")
    return rank, world


def shard(jobs, rank, world):
    """Rank `rank` of `world` processes takes every world-th job from its rank on: disjoint
    shares that together cover the list, the same in every process (find_jobs sorts), so
    processes on several machines sharing a filesystem need not talk to each other."""
    return jobs[rank::world]


class Enhancer:
    """The model with its device and dtype; times the model alone (synchronized on CUDA)."""

    def __init__(self, model, device, dtype):
        self.model, self.device, self.dtype = model, device, dtype
        self.seconds, self.pixels, self.images = 0.0, 0, 0

    @torch.inference_mode()
    def __call__(self, images, channels="rgb", factor_filter=None):
        """Same-size (H, W, 3) arrays, uint8 or float in [0, 1] -> (N, H, W, 3) of the same
        dtype (float clamped to [0, 1], so 16-bit photos are not rounded to 8 bits on the way).
        8-bit images stay 8-bit on their way through the model (SGZ.enhance_uint8)."""
        start = time.perf_counter()
        batch = torch.from_numpy(np.stack(images)).to(self.device, non_blocking=True)
        if batch.dtype == torch.uint8:
            out = self.model.enhance_uint8(batch, channels, factor_filter)
        else:
            x = batch.permute(0, 3, 1, 2).to(self.dtype)
            out = self.model.enhance(x, factor_filter).clamp_(0, 1).float().permute(0, 2, 3, 1)
        out = out.cpu().numpy()  # synchronizes
        self.seconds += time.perf_counter() - start
        self.pixels += batch.shape[0] * batch.shape[1] * batch.shape[2]
        self.images += batch.shape[0]
        return out
