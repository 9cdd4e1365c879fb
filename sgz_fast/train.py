"""Trains SGZ zero-reference (Zheng & Gupta, WACV 2022): ``sgz-train`` or
``python -m sgz_fast.train``.

Accepts the published trainer's flags with their defaults, so its commands run unchanged:

    sgz-train --lowlight_images_path data/train_data --snapshots_folder weight/
    sgz-train ... --load_pretrain True --pretrain_dir weight/Epoch99.pth

Snapshots ``Epoch{epoch}.pth`` (epoch counted from 0, as published) are plain state_dicts the
published code loads; ``checkpoint.pth`` beside them holds everything ``--resume`` needs.
Several processes: ``torchrun --nproc_per_node=K -m sgz_fast.train ...`` (DistributedDataParallel,
gloo on CPU, NCCL on GPUs; --train_batch_size is per process; the progress display and
loss_log.csv show process 0's own batch).
"""
import argparse
import itertools
import os
import random
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from .checkpoint import (check_resumed_run, check_snapshots_folder, load_checkpoint, rng_states,
                         set_rng_states)
from .data import LowLightImages
from .losses import sgz_loss
from .imageio import write_atomically
from .model import SGZ, load_weights
from .semantic import CHOICES, build_semantic

TERMS = ("total", "tv", "spa", "col", "exp", "sem")


def str2bool(text):
    """'True'/'False' (and yes/no, 1/0) as they read: argparse's type=bool takes 'False' as true."""
    value = text.strip().lower()
    if value in ("true", "t", "yes", "y", "1"):
        return True
    if value in ("false", "f", "no", "n", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected True or False, got {text!r}")


def positive_int(text):
    """An int >= 1 (sizes, batch sizes and intervals: 0 would divide by zero or train nothing)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def build_parser():
    p = argparse.ArgumentParser(prog="sgz-train", description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    # The published trainer's flags and defaults (seed README, Hyperparameters).
    p.add_argument("--lowlight_images_path", default="data/train_data/")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight_decay", type=float, default=1e-3)
    p.add_argument("--grad_clip_norm", type=float, default=0.1)
    p.add_argument("--num_epochs", type=int, default=100)
    p.add_argument("--train_batch_size", type=positive_int, default=6)
    p.add_argument("--val_batch_size", type=int, default=8,
                   help="accepted for compatibility; the published trainer does not validate")
    p.add_argument("--num_workers", type=int, default=4)
    p.add_argument("--display_iter", type=positive_int, default=10)
    p.add_argument("--snapshot_iter", type=positive_int, default=10)
    p.add_argument("--scale_factor", type=positive_int, default=1)
    p.add_argument("--snapshots_folder", default="weight/")
    p.add_argument("--load_pretrain", type=str2bool, default=False)
    p.add_argument("--pretrain_dir", default="weight/Epoch99.pth")
    p.add_argument("--num_of_SegClass", type=int, default=21)
    p.add_argument("--conv_type", default="dsc")
    p.add_argument("--patch_size", type=int, default=4)
    p.add_argument("--exp_level", type=float, default=0.6)
    # Ours.
    p.add_argument("--backend", default="auto", choices=["auto", "fused", "reference"],
                   help="auto: the fused kernels where built for the device")
    p.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    p.add_argument("--amp", action="store_true", help="bfloat16 autocast for the network (CUDA)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--semantic", default="efficientnet-lite0", choices=CHOICES)
    p.add_argument("--semantic_weights", default=None,
                   help="torchvision-format ResNet-50 weights file for --semantic resnet50")
    p.add_argument("--image_size", type=positive_int, default=512,
                   help="Lanczos resize (published: 512)")
    p.add_argument("--crop", type=positive_int, default=None,
                   help="random crop of the resized image")
    p.add_argument("--flip", action="store_true", help="random horizontal flips")
    p.add_argument("--resume", default=None, help="a checkpoint.pth to continue from")
    p.add_argument("--trust_checkpoint", action="store_true",
                   help="load --resume's file even if it holds pickled objects (older "
                        "checkpoints): only for files you trust")
    p.add_argument("--overwrite", action="store_true",
                   help="start a new run in a snapshots folder that holds another run's "
                        "checkpoint.pth and loss_log.csv")
    p.add_argument("--max_steps", type=positive_int, default=None,
                   help="stop (with a checkpoint) after this many optimizer steps in all")
    p.add_argument("--no_progress", action="store_true", help="plain prints, no progress bar")
    return p


def setup_process(args):
    """(device, rank, world_size); joins the process group when torchrun started several."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if args.device is not None:
        device = torch.device(args.device)
    else:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device, rank, world


def save_atomic(obj, path):
    write_atomically(path, lambda tmp: torch.save(obj, tmp))


class _SkipSampler(torch.utils.data.Sampler):
    """The epoch's order, less the batches a resumed run already trained on."""

    def __init__(self, inner):
        self.inner, self.skip = inner, 0

    def __iter__(self):
        return itertools.islice(iter(self.inner), self.skip, None)

    def __len__(self):
        return len(self.inner) - self.skip


class Progress:
    """tqdm when installed (and wanted), else a line every display_iter iterations."""

    def __init__(self, total, enabled, plain):
        self.bar = None
        if enabled and not plain:
            try:
                from tqdm import tqdm
                self.bar = tqdm(total=total, unit="it", dynamic_ncols=True)
            except ImportError:
                pass
        self.enabled = enabled

    def update(self, epoch, iteration, values, show):
        if not self.enabled:
            return
        text = " ".join(f"{k}={v:.4g}" for k, v in values.items())
        if self.bar is not None:
            self.bar.update(1)
            if show:
                self.bar.set_postfix_str(f"epoch={epoch} {text}")
        elif show:
            print(f"epoch {epoch} iteration {iteration}: {text}", flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def make_optimizer(model, args):
    """Adam with the run's learning rate and weight decay, its update fused into one kernel
    (PyTorch's fused Adam: the same update, one pass over the 28 small tensors instead of a
    dozen operations each, ~1 ms a step on the CPU)."""
    return torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay,
                            fused=True)


def train_step(net, semantic, optimizer, images, args, autocast=nullcontext()):
    """One optimizer step on a batch: SGZ loss, backward, gradient-norm clip, Adam.
    The loss's reductions run fused when the network's forward did (its backend).
    Returns the LossTerms (the network output in float32 whatever autocast computed)."""
    with autocast:
        enhanced, r = net(images)
    enhanced, r = enhanced.float(), r.float()
    logits = semantic(enhanced) if semantic is not None else None
    fused = getattr(net, "module", net).backend == "fused"  # DistributedDataParallel wraps it
    terms = sgz_loss(enhanced, images, r, logits, args.patch_size, args.exp_level, fused=fused)
    optimizer.zero_grad(set_to_none=True)
    terms.total.backward()
    params = [p for group in optimizer.param_groups for p in group["params"]]
    torch.nn.utils.clip_grad_norm_(params, args.grad_clip_norm)
    optimizer.step()
    return terms


def train(args):
    """Runs training; returns the trained SGZ (unwrapped)."""
    device, rank, world = setup_process(args)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    random.seed(args.seed)
    state = None
    if args.resume:
        state = load_checkpoint(args.resume, device, args.trust_checkpoint)
        check_resumed_run(state, args)
    folder = Path(args.snapshots_folder)
    check_snapshots_folder(folder, args)
    dataset = LowLightImages(args.lowlight_images_path, args.image_size, args.crop, args.flip,
                             args.seed)
    folder.mkdir(parents=True, exist_ok=True)  # once the images are found
    sampler = _SkipSampler(DistributedSampler(dataset, world, rank, shuffle=True, seed=args.seed))
    loader = DataLoader(dataset, args.train_batch_size, sampler=sampler,
                        num_workers=args.num_workers, pin_memory=device.type == "cuda",
                        persistent_workers=False)

    model = SGZ(args.scale_factor, args.conv_type, backend=args.backend).to(device)
    if args.load_pretrain:
        if not Path(args.pretrain_dir).is_file():
            raise FileNotFoundError(f"--pretrain_dir {str(args.pretrain_dir)!r} does not exist "
                                    f"(given --load_pretrain True)")
        load_weights(model, args.pretrain_dir)
    semantic = build_semantic(args.semantic, args.num_of_SegClass, args.semantic_weights,
                              args.seed)
    if semantic is not None:
        semantic = semantic.to(device)
    optimizer = make_optimizer(model, args)

    start_epoch, skip, step = 0, 0, 0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch, skip, step = state["epoch"], state["iteration"], state["step"]
        set_rng_states(state["rng"])
    net = DistributedDataParallel(model) if world > 1 else model
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if args.amp and device.type == "cuda"
                else nullcontext())

    is_main = rank == 0
    log_path = folder / "loss_log.csv"
    if is_main and args.resume and log_path.exists():
        # rows a crashed run logged after its last checkpoint are trained again: drop them
        header, *rows = log_path.read_text().splitlines()
        kept = [row for row in rows if int(row.split(",")[2]) <= step]
        log_path.write_text("\n".join([header, *kept]) + "\n")
    elif is_main:
        log_path.write_text(",".join(("epoch", "iteration", "step", "seconds") + TERMS) + "\n")
    batches = -(-len(sampler.inner) // args.train_batch_size)
    if is_main:
        print(f"sgz-train: {len(dataset)} images, {world} process(es) on {device}, backend "
              f"{model.requested_backend}, semantic {args.semantic}", flush=True)
    progress = Progress((args.num_epochs - start_epoch) * batches - skip, is_main,
                        args.no_progress)
    started = time.perf_counter()

    def save(epoch, next_epoch, next_iteration):
        if not is_main:
            return
        snapshot = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        save_atomic(snapshot, folder / f"Epoch{epoch}.pth")
        save_atomic({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "epoch": next_epoch, "iteration": next_iteration, "step": step,
                     "rng": rng_states(), "args": vars(args)}, folder / "checkpoint.pth")

    net.train()
    stop = False
    last_epoch = start_epoch if args.max_steps is not None and step >= args.max_steps else \
        args.num_epochs  # a resumed run that has its --max_steps already
    for epoch in range(start_epoch, last_epoch):
        sampler.inner.set_epoch(epoch)
        dataset.set_epoch(epoch)
        first = skip if epoch == start_epoch else 0
        sampler.skip = first * args.train_batch_size
        for iteration, images in enumerate(loader, start=first):
            terms = train_step(net, semantic, optimizer, images.to(device, non_blocking=True),
                               args, autocast)
            step += 1

            done = iteration + 1
            values = dict(zip(TERMS, (t.item() for t in terms)))
            progress.update(epoch, done, values, done % args.display_iter == 0)
            if is_main:
                row = [epoch, done, step, f"{time.perf_counter() - started:.2f}"]
                with log_path.open("a") as log:
                    log.write(",".join(map(str, row + [f"{v:.6g}" for v in values.values()])))
                    log.write("\n")
            stop = args.max_steps is not None and step >= args.max_steps
            if done == batches:  # the checkpoint of a finished epoch points at the next one
                save(epoch, epoch + 1, 0)
            elif done % args.snapshot_iter == 0 or stop:
                save(epoch, epoch, done)
            if stop:
                break
        if stop:
            break
    progress.close()
    if is_main:
        print(f"sgz-train: done after {step} steps ({model.backend} backend), snapshots in "
              f"{folder}", flush=True)
    if world > 1:
        # Every rank done before any tears its group down: without it, a rank that left while
        # another was still writing a snapshot made the other abort now and then (gloo,
        # "terminate called without an active exception": 3 of 31 two-process runs; 0 of 40 with).
        dist.barrier()
        dist.destroy_process_group()
    return model


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        train(args)
    except (ValueError, FileNotFoundError) as error:  # a refused folder or checkpoint, a
        raise SystemExit(f"sgz-train: {error}") from error  # missing input: the reason alone


if __name__ == "__main__":
    main()
