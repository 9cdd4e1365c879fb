"""sgz-enhance on archives that outgrow one process: torchrun processes split the files (the
same outputs as one process), and --skip-existing resumes a killed run."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from sgz_fast.jobs import Job, shard


def make_folder(folder, count, size=(96, 64)):
    rng = np.random.default_rng(5)
    for i in range(count):
        sub = folder / ("a" if i % 3 else "b")
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 60, (size[1], size[0], 3), dtype=np.uint8)).save(
            sub / f"img{i:02d}.png")


def enhance_cmd(*args):
    return [sys.executable, "-m", "sgz_fast.enhance", *map(str, args)]


def files(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_shares_are_disjoint_and_cover_the_list():
    jobs = [Job(f"in/{i}", f"out/{i}") for i in range(11)]
    shares = [shard(jobs, rank, 3) for rank in range(3)]
    assert sorted((j for s in shares for j in s), key=lambda j: int(j.source[3:])) == jobs
    assert [len(s) for s in shares] == [4, 4, 3]


def test_two_torchrun_processes_write_what_one_process_writes(tmp_path):
    make_folder(tmp_path / "in", 7)
    subprocess.run(enhance_cmd(tmp_path / "in", "-o", tmp_path / "one"), check=True,
                   capture_output=True)
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                          "--nproc-per-node", "2", "-m", "sgz_fast.enhance", str(tmp_path / "in"),
                          "-o", str(tmp_path / "two")], capture_output=True, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stderr
    assert "rank 0 of 2: enhanced 4 of 4" in run.stderr
    assert "rank 1 of 2: enhanced 3 of 3" in run.stderr
    assert files(tmp_path / "two") == files(tmp_path / "one")


def test_a_killed_run_resumes_with_skip_existing(tmp_path):
    make_folder(tmp_path / "in", 24, size=(480, 320))
    subprocess.run(enhance_cmd(tmp_path / "in", "-o", tmp_path / "clean"), check=True,
                   capture_output=True)
    out = tmp_path / "out"
    # 24 images of 480 x 320: slow enough to be killed half-way
    killed = subprocess.Popen(enhance_cmd(tmp_path / "in", "-o", out),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len([p for p in out.rglob("*.png")
                                               if not p.name.startswith(".")]) < 3:
        time.sleep(0.01)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    written = [p for p in out.rglob("img*.png")]
    if len(written) == 24:
        pytest.fail("the run finished before it could be killed; make the images larger")
    # what a kill during a write leaves: a temporary file beside its target
    (out / "a" / ".img01.png.partial-x1y2").write_bytes(b"half a png")
    refused = subprocess.run(enhance_cmd(tmp_path / "in", "-o", out), capture_output=True,
                             text=True)
    assert refused.returncode == 2 and "--skip-existing" in refused.stderr
    resumed = subprocess.run(enhance_cmd(tmp_path / "in", "-o", out, "--skip-existing"),
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(written)} kept as they were" in resumed.stderr
    assert files(out) == files(tmp_path / "clean")  # every file complete, no partial left
