"""sgz-train's checkpoint.pth: written with tensors and plain values only, so that --resume
reads it with ``torch.load(weights_only=True)`` (a pickled object could run code), and the
guard that keeps a run from writing over another run's checkpoint and loss log."""
import pickle
import random

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


def check_snapshots_folder(folder, args):
    """Refuses (ValueError) a snapshots folder whose checkpoint.pth or loss_log.csv comes from a
    run with other RUN_SETTINGS, or from an unknown run, unless args.resume or args.overwrite.
    Epoch*.pth files alone do not count: fine-tuning into the folder of one's weights (the
    published example) works."""
    if args.resume or args.overwrite:
        return
    checkpoint, log = folder / "checkpoint.pth", folder / "loss_log.csv"
    if not checkpoint.exists():
        if log.exists():
            raise ValueError(f"{log} is from another run (it has no checkpoint.pth beside it); "
                             "pass --overwrite to start a new run over it, or choose another "
                             "--snapshots_folder")
        return
    try:
        before = load_checkpoint(checkpoint, "cpu").get("args", {})
    except ValueError:
        before = {}
    differ = [key for key in RUN_SETTINGS if before.get(key) != vars(args).get(key)]
    if differ:
        shown = ", ".join(f"--{k} {before.get(k, '?')!r} there, {vars(args).get(k)!r} now"
                          for k in differ[:4])
        raise ValueError(f"{folder} holds another run's checkpoint.pth and loss_log.csv ({shown}"
                         f"{', ...' if len(differ) > 4 else ''}); pass --resume "
                         f"{checkpoint} to continue it, --overwrite to start a new run over it, "
                         "or choose another --snapshots_folder")
