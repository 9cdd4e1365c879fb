"""sgz-enhance: brightens dark images, folders of them, and videos with SGZ.

    sgz-enhance photo.jpg holiday/ 'clips/*.mp4' -o enhanced/
    sgz-enhance --input_dir data/test_data --weight_dir Epoch99.pth --test_dir out/   (as published)

Outputs keep the input's name and its path under the folder it was found in; inputs are never
overwritten and existing outputs are refused unless --overwrite (or kept with --skip-existing,
which resumes a killed run). Files that cannot be read are reported and skipped, and the exit
status is 1 at the end. Under torchrun each process takes its share of the files:

    torchrun --standalone --nproc-per-node 4 -m sgz_fast.enhance archive/ -o enhanced/
"""
import argparse
import os
import sys
import time
from pathlib import Path

import torch

from . import __version__, imageio, video
from .denoise import MODES, VideoDenoiser, denoise
from .jobs import Enhancer, check_targets, find_jobs, rank_and_world, shard
from .model import BACKENDS, DEFAULT_WEIGHTS, load_sgz, weights_path
from .temporal import DEFAULT_SMOOTHING, TemporalSmoothing
from .threads import torch_threads

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class Progress:
    """One status line on a terminal (rewritten in place), else a line per finished item."""

    def __init__(self, total, stream=sys.stderr):
        self.total, self.stream = total, stream
        self.live = stream.isatty()

    def show(self, done, text, final=False):
        line = f"[{done}/{self.total}] {text}"
        if self.live:
            self.stream.write(f"\r\033[K{line}" + ("\n" if final else ""))
        elif final:
            self.stream.write(line + "\n")
        self.stream.flush()


def enhance_images(jobs, enhancer, batch_size, progress, settings=None, denoise_mode="off"):
    """Enhances image jobs, `batch_size` same-size images at a time, each written with what
    its input carries (imageio.save_photo) and denoised as `denoise_mode` says (8-bit images;
    16-bit ones are written as enhanced); `settings` (the model's) and the denoise, where one
    was applied, go into the outputs' Software tag. Returns (images written, failures)."""
    failures, pending, not_denoised = [], [], []
    written = 0

    def flush():
        nonlocal written
        if not pending:
            return
        outputs = enhancer([photo.rgb for _, photo in pending])
        for (job, photo), rgb in zip(pending, outputs):
            denoised = denoise_mode != "off" and photo.bits == 8
            if denoised:
                rgb = denoise(photo.rgb, rgb, denoise_mode)
            elif denoise_mode != "off":
                not_denoised.append(job.source)
            software = None if settings is None else (
                f"sgz_fast {__version__} ({settings}"
                + (f", denoise {denoise_mode})" if denoised else ")"))
            try:
                imageio.save_photo(photo, rgb, job.target, software)
            except OSError as error:
                failures.append(f"{job.source}: cannot write {job.target} ({error})")
                continue
            written += 1
            progress.show(written, f"{job.source} -> {job.target}", final=True)
        pending.clear()

    for job in jobs:
        try:
            photo = imageio.read_photo(job.source)
        except imageio.READ_ERRORS as error:
            failures.append(f"{job.source}: cannot read it as an image ({error})")
            continue
        first = pending[0][1].rgb if pending else None
        if pending and (photo.rgb.shape != first.shape or photo.rgb.dtype != first.dtype
                        or len(pending) == batch_size):
            flush()
        pending.append((job, photo))
    flush()
    if not_denoised:
        print(f"note: --denoise works on 8-bit images; {len(not_denoised)} 16-bit one(s) were "
              f"written as enhanced, e.g. {not_denoised[0]}", file=sys.stderr)
    return written, failures


def enhance_videos(jobs, enhancer, progress, done, crf=18, preset="veryfast",
                   smoothing=DEFAULT_SMOOTHING, denoise_mode="off"):
    """Enhances video jobs one after another, the factors smoothed over each video's frames
    (sgz_fast.temporal; 0: frame by frame); returns the failures. What an output differs in
    from its input (no sound without PyAV, padding of odd sizes, 10-bit input) is said once."""
    failures, notes = [], []
    if jobs and denoise_mode == "best":
        print("note: --denoise best takes seconds per video frame (non-local means); fast is "
              "the one made for video", file=sys.stderr)
    threads = 1 if enhancer.device.type == "cpu" else torch.get_num_threads()
    for job in jobs:
        def on_frame(frame, count, job=job):
            progress.show(done, f"{job.source}: frame {frame}" + (f"/{count}" if count else ""))

        steady, clean = TemporalSmoothing(smoothing), VideoDenoiser(denoise_mode)

        def enhance_frame(frame, channels, steady=steady, clean=clean):
            return clean(frame, enhancer([frame], channels, steady)[0], channels)

        results = []
        try:
            with torch_threads(threads):
                imageio.write_atomically(job.target, lambda tmp: results.append(
                    video.transform_video(job.source, tmp, enhance_frame, on_frame, crf, preset)))
        except (ValueError, RuntimeError, OSError) as error:  # undecodable, truncated, unwritable
            failures.append(f"{job.source}: {error}")
            continue
        done += 1
        progress.show(done, f"{job.source} -> {job.target} ({results[0].frames} frames)",
                      final=True)
        notes += [f"{job.source}: {note}" for note in results[0].notes]
    for note in dict.fromkeys(notes):
        print(f"note: {note}", file=sys.stderr)
    return failures


def pick_device(name, rank=None):
    """The device; under torchrun (rank given) each process takes GPU LOCAL_RANK."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("sgz-enhance: --device cuda, but PyTorch sees no CUDA device")
    if name == "cuda" and rank is not None:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device(name)


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="sgz-enhance", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("inputs", nargs="*", help="images, videos, folders or globs")
    parser.add_argument("--input_dir", action="append", default=[], help=argparse.SUPPRESS)
    parser.add_argument("-o", "--output", "--test_dir", dest="output", help="output folder")
    parser.add_argument("--weights", "--weight_dir", dest="weights", default=None,
                        help="a state_dict .pth, or bundled weights by name: default (the "
                             f"default, {DEFAULT_WEIGHTS.name}), default-v1 (the first set)")
    parser.add_argument("--scale-factor", "--scale_factor", type=int, default=12,
                        help="the network runs at 1/scale-factor size (default 12, as published)")
    parser.add_argument("--conv-type", "--conv_type", choices=("dsc", "tc"), default="dsc")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--dtype", choices=tuple(DTYPES), default="float32",
                        help="float16/bfloat16 need CUDA")
    parser.add_argument("--batch", type=int, default=1, help="same-size images per model call")
    parser.add_argument("--strength", type=float, default=1.0,
                        help="how much to brighten: 1 as published (default), 0 leaves the input "
                             "as it is, 0.5 milder, 1.5 stronger")
    parser.add_argument("--backend", choices=BACKENDS, default="auto")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument("--skip-existing", action="store_true",
                        help="keep outputs that exist (complete: outputs are written atomically) "
                             "and enhance the rest: resumes a killed run")
    parser.add_argument("--denoise", choices=MODES, default="off",
                        help="clean the noise the brightening brings out, most where it "
                             "brightened most: fast (colour guided filter, milliseconds per "
                             "photo or frame) or best (non-local means, then that filter; "
                             "seconds per megapixel, for photos); default off, as published")
    parser.add_argument("--temporal", type=float, default=DEFAULT_SMOOTHING, metavar="S",
                        help="videos: smooth the enhancement over time against flicker, S in "
                             f"[0, 1) the weight of the past (default {DEFAULT_SMOOTHING}); 0 "
                             "enhances each frame on its own, as published")
    parser.add_argument("--crf", type=int, default=18,
                        help="H.264 quality of video outputs, 0-51, lower is better (default 18)")
    parser.add_argument("--preset", default="veryfast",
                        help="x264 speed preset of video outputs (default veryfast)")
    args = parser.parse_args(argv)
    args.inputs += args.input_dir
    if not args.inputs:
        parser.error("give images, videos or folders to enhance")
    if not args.output:
        parser.error("give an output folder with -o/--output (or --test_dir)")
    if args.batch < 1 or args.scale_factor < 1:
        parser.error("--batch and --scale-factor must be >= 1")
    if args.overwrite and args.skip_existing:
        parser.error("--overwrite and --skip-existing contradict each other; pick one")
    if not 0 <= args.temporal < 1:
        parser.error(f"--temporal must be in [0, 1); got {args.temporal}")
    if not 0 <= args.crf <= 51:
        parser.error(f"--crf must be between 0 and 51; got {args.crf}")
    if not 0 <= args.strength < float("inf"):
        parser.error(f"--strength must be a number >= 0; got {args.strength}")
    return parser, args


def main(argv=None):
    parser, args = parse_args(argv)
    jobs, missing = find_jobs(args.inputs, Path(args.output))
    for spec in missing:
        print(f"sgz-enhance: {spec}: no such file, folder or match", file=sys.stderr)
    if not jobs:
        kinds = " ".join(sorted(imageio.IMAGE_SUFFIXES | imageio.VIDEO_SUFFIXES))
        parser.error(f"found no images or videos to enhance in {' '.join(args.inputs)} "
                     f"(files ending {kinds})")
    try:
        rank, world = rank_and_world()
    except ValueError as error:
        parser.error(str(error))
    share = shard(jobs, rank, world)
    problem = check_targets(jobs, args.overwrite or args.skip_existing, share)
    if problem:
        parser.error(problem)
    existing = [job for job in share if job.target.exists()] if args.skip_existing else []
    jobs = [job for job in share if job not in existing]
    for job in share:  # each target is this process's alone: a killed run's leftovers can go
        imageio.remove_partials(job.target)
    device, dtype = pick_device(args.device, rank if world > 1 else None), DTYPES[args.dtype]
    if dtype != torch.float32 and device.type != "cuda":
        parser.error(f"--dtype {args.dtype} runs on CUDA only; use float32 on the CPU")
    try:
        model = load_sgz(args.weights, args.scale_factor, args.conv_type, args.backend, device,
                         dtype, args.strength)
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        print(f"sgz-enhance: {error}", file=sys.stderr)
        return 2
    enhancer = Enhancer(model, device, dtype)
    progress = Progress(len(jobs))
    start = time.perf_counter()
    images = [job for job in jobs if not job.is_video]
    videos = [job for job in jobs if job.is_video]
    weights = weights_path(args.weights).name
    settings = (f"SGZ, weights {weights}, scale factor {args.scale_factor}, "
                f"strength {args.strength:g}")
    written, failures = enhance_images(images, enhancer, args.batch, progress, settings,
                                       args.denoise)
    failures += enhance_videos(videos, enhancer, progress, written, args.crf, args.preset,
                               args.temporal, args.denoise)
    wall = time.perf_counter() - start
    done = len(jobs) - len(failures)
    backend = model.backend or args.backend
    who = f"rank {rank} of {world}: " if world > 1 else ""
    kept = f", {len(existing)} kept as they were (--skip-existing)" if existing else ""
    print(f"{who}enhanced {done} of {len(jobs)} file(s) into {args.output} in {wall:.2f} s "
          f"({backend} backend, {device}, {args.dtype}){kept}", file=sys.stderr)
    if videos:
        print("videos: " + (f"brightness smoothed over time (--temporal {args.temporal:g}; "
                            "--temporal 0 enhances each frame on its own)" if args.temporal else
                            "each frame enhanced on its own (--temporal 0)"), file=sys.stderr)
    if enhancer.images:
        print(f"model: {enhancer.seconds / enhancer.images * 1e3:.1f} ms per image or frame, "
              f"{enhancer.pixels / enhancer.seconds / 1e6:.1f} megapixels/s", file=sys.stderr)
    for failure in failures:
        print(f"skipped {failure}", file=sys.stderr)
    return 1 if failures or missing else 0


if __name__ == "__main__":
    sys.exit(main())
