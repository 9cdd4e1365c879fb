"""sgz-train's checkpoint.pth: written with tensors and plain values only, so that --resume
reads it with ``torch.load(weights_only=True)`` (a pickled object could run code), and the
guard that keeps a run from writing over another run's checkpoint and loss log."""
import pickle
import random
from pathlib import Path

import numpy as np
import torch

# The flags that make a run what it is: a checkpoint or log with other values belongs to
# another run. (Not: where and how fast it runs, how long, how it reports.)
RUN_SETTINGS = ("lowlight_images_path", "lr", "weight_decay", "grad_clip_norm",
                "train_batch_size", "scale_factor", "load_pretrain", "pretrain_dir",
                "num_of_SegClass", "conv_type", "patch_size", "exp_level", "seed", "semantic",
                "semantic_weights", "image_size", "crop", "flip")


def rng_states():
    """Every random generator's state as tensors and plain values."""
    kind, keys, position, has_gauss, gauss = np.random.get_state()
    version, python_state, python_gauss = random.getstate()
    states = {"torch": torch.get_rng_state(),
              "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, gauss],
              "python": [version, list(python_state), python_gauss]}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states):
    torch.set_rng_state(states["torch"])
    kind, keys, position, has_gauss, gauss = states["numpy"]
    keys = keys.numpy() if isinstance(keys, torch.Tensor) else keys  # older checkpoints: arrays
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), position, has_gauss, gauss))
    version, python_state, python_gauss = states["python"]
    random.setstate((version, tuple(python_state), python_gauss))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def load_checkpoint(path, device, trusted=False):
    """The checkpoint at `path`, read as tensors and plain values only unless `trusted`."""
    try:
        return torch.load(path, map_location=device, weights_only=not trusted)
    except pickle.UnpicklingError as error:
        raise ValueError(
            f"{path} holds more than tensors and plain values (a checkpoint written by sgz-train "
            f"before 0.1.0's safe format, or by something else). Loading such a file can run "
            f"code, so it is refused. If you trust it, pass --trust_checkpoint to load it once: "
            f"the checkpoints this run writes are in the safe format. ({error})") from error


# RUN_SETTINGS that a resumed run must keep (it continues the same optimization); the images'
# folder may have moved, and the starting weights come from the checkpoint.
RESUME_SETTINGS = tuple(k for k in RUN_SETTINGS
                        if k not in ("lowlight_images_path", "load_pretrain", "pretrain_dir"))


def check_resumed_run(state, args):
    """Refuses (ValueError) a --resume file that is not an sgz-train checkpoint, or flags that
    would change the run it continues."""
    if not isinstance(state, dict) or not {"model", "optimizer", "step"} <= set(state):
        raise ValueError(f"--resume {args.resume} is not a checkpoint.pth written by sgz-train "
                         f"(an Epoch*.pth snapshot holds the weights only: start from them with "
                         f"--load_pretrain True --pretrain_dir {args.resume})")
    before = state.get("args", {})
    differ = [k for k in RESUME_SETTINGS if k in before and before[k] != vars(args).get(k)]
    if differ:
        raise ValueError(f"--resume continues {args.resume}'s run as it was "
                         f"({_differences(differ, before, args)}); drop those flags, or start a "
                         f"new run (--load_pretrain True --pretrain_dir with one of its snapshots)")


def _differences(keys, before, args):
    shown = ", ".join(f"--{k} {before.get(k, '?')!r} there, {vars(args).get(k)!r} now"
                      for k in keys[:4])
    return shown + (", ..." if len(keys) > 4 else "")


def check_snapshots_folder(folder, args):
    """Refuses (ValueError) to start a run whose snapshots would replace a run's checkpoint.pth
    and loss_log.csv in `folder`: a new run where one was trained (the same settings or not),
    and a --resume into a folder that holds another checkpoint than the one resumed. Only
    args.overwrite starts over. A log with no row (a run that failed before its first step)
    and Epoch*.pth files alone do not count: fine-tuning into the folder of one's weights (the
    published example) works."""
    if args.overwrite:
        return
    checkpoint, log = folder / "checkpoint.pth", folder / "loss_log.csv"
    choices = "pass --overwrite to start a new run over it, or choose another --snapshots_folder"
    if args.resume:
        if checkpoint.exists() and checkpoint.resolve() != Path(args.resume).resolve():
            raise ValueError(f"{folder} holds another run's checkpoint.pth than --resume "
                             f"{args.resume}: resume it into its own folder (--snapshots_folder "
                             f"{Path(args.resume).parent}), or {choices}")
        return
    if not checkpoint.exists():
        if _logged_rows(log):
            raise ValueError(f"{log} is from another run (it has no checkpoint.pth beside it); "
                             f"{choices}")
        return
    try:
        before = load_checkpoint(checkpoint, "cpu")
    except ValueError:
        before = {}
    settings = before.get("args", {})
    differ = [key for key in RUN_SETTINGS if settings.get(key) != vars(args).get(key)]
    if differ:
        what = (f"another run's checkpoint.pth and loss_log.csv "
                f"({_differences(differ, settings, args)})")
    else:
        what = f"a run with these settings, trained {before.get('step', '?')} steps"
    raise ValueError(f"{folder} holds {what}; pass --resume {checkpoint} to continue it, "
                     f"{choices}")


def _logged_rows(log):
    """Whether the loss log at `log` exists and has a row below its header."""
    if not log.exists():
        return False
    with log.open() as lines:
        return sum(1 for _ in zip(range(2), lines)) > 1
