"""NEON report for the dsconv hot loops of an aarch64 sgz_fast._C (run on the host).

    python3 scripts/aarch64/neon_report.py path/to/_C...aarch64...so [objdump]

For each sgz::cpu::DEFAULT::...::{forward,backward}_rows<float|double>(sgz::cpu::Channels...):
instructions, NEON fmla on .4s (float) and .2d (double) vectors, and q-register (128-bit vector)
stores/loads to the stack: str/ldr and the pair forms stp/ldp on [sp ...] (GCC addresses the
frame through sp; x29 too is counted). Of those, how many lie inside a loop (the span of a
backward branch), and how many stack slots a loop both stores and loads: vectors that go round
memory in the loop (spilled accumulators) rather than being parked once outside it, and how
many sit in an innermost loop that itself runs fmla (the multiply-add loop proper). Loops
that call a function (memcpy for a row's last, partial vector) are counted apart, as in
scripts/check_cpu_isa.py: AArch64 keeps no q register across a call (only d8-d15's low halves),
so vectors live across one are saved and reloaded there by the ABI.
"""
import re
import subprocess
import sys
from collections import defaultdict

WANTED = re.compile(r"sgz::cpu::DEFAULT::.*(forward|backward)_rows<(float|double)>\(sgz::cpu::Channels")
Q_STACK = re.compile(r"^(str|ldr|stp|ldp)\tq\d+, (?:q\d+, )?\[(?:sp|x29)(?:, #(-?\d+))?\]")
BRANCH = re.compile(r"^(b(?:\.\w+)?|cbn?z|tbn?z)\t(?:.*, )?([0-9a-f]+) <")


def functions(path, objdump):
    out = subprocess.run([objdump, "-d", "-C", "--no-show-raw-insn", path], capture_output=True,
                         text=True, check=True).stdout
    found, current = defaultdict(list), None
    for line in out.splitlines():
        header = re.match(r"^[0-9a-f]+ <(.*)>:$", line)
        if header:
            current = header.group(1) if WANTED.search(header.group(1)) else None
            continue
        parts = line.split("\t")
        if current and len(parts) >= 2 and re.match(r"^ +[0-9a-f]+:$", parts[0]):
            found[current].append((int(parts[0].strip()[:-1], 16), "\t".join(parts[1:])))
    return found


def report(code):
    loops = []  # (start, end) of each backward branch
    for address, ins in code:
        m = BRANCH.match(ins)
        if m and int(m.group(2), 16) <= address:
            loops.append((int(m.group(2), 16), address))
    calls = {loop for loop in loops
             for address, ins in code if ins.startswith("bl\t") and loop[0] <= address <= loop[1]}
    innermost = lambda address: min((loop for loop in loops if loop[0] <= address <= loop[1]),
                                    key=lambda loop: loop[1] - loop[0], default=None)
    fmla_loops = {innermost(address) for address, ins in code if ins.startswith("fmla\t")}
    counts = defaultdict(int)
    slots = defaultdict(lambda: (set(), set()))  # innermost loop -> (stored, loaded) offsets
    for address, ins in code:
        counts["insns"] += 1
        if ins.startswith("fmla\t") and ".4s" in ins:
            counts["fmla.4s"] += 1
        if ins.startswith("fmla\t") and ".2d" in ins:
            counts["fmla.2d"] += 1
        m = Q_STACK.match(ins)
        if not m:
            continue
        op, offset = m.group(1), int(m.group(2) or 0)
        counts[op + " q"] += 1
        around = [loop for loop in loops if loop[0] <= address <= loop[1]]
        if around:
            inner = min(around, key=lambda loop: loop[1] - loop[0])
            counts["in loops w/ call" if inner in calls else "in call-free loops"] += 1
            if inner not in calls and inner in fmla_loops:
                counts["in fmla loops"] += 1
            offsets = {offset, offset + 16} if op in ("stp", "ldp") else {offset}
            slots[inner][0 if op in ("str", "stp") else 1].update(offsets)
    for loop, (stored, loaded) in slots.items():
        kind = "round trips w/ call" if loop in calls else "round trips call-free"
        counts[kind] += len(stored & loaded)
    return counts


def main():
    path = sys.argv[1]
    objdump = sys.argv[2] if len(sys.argv) > 2 else "aarch64-linux-gnu-objdump"
    found = functions(path, objdump)
    if not found:
        sys.exit(f"no sgz::cpu::DEFAULT forward_rows/backward_rows(Channels...) in {path}")
    keys = ["insns", "fmla.4s", "fmla.2d", "str q", "ldr q", "stp q", "ldp q",
            "in call-free loops", "in fmla loops", "round trips call-free", "in loops w/ call",
            "round trips w/ call"]
    print("q-register stack accesses ([sp|x29, #n]); round trips = stack slots a loop both "
          "stores and loads")
    print(f"{'function':22s}" + "".join(f"{k:>{max(8, len(k) + 1)}s}" for k in keys))
    for name in sorted(found, key=lambda n: ("backward" in n, "double" in n)):
        counts = report(found[name])
        short = re.search(r"((?:forward|backward)_rows<\w+>)", name).group(1)
        print(f"{short:22s}" + "".join(f"{counts[k]:{max(8, len(k) + 1)}d}" for k in keys))


if __name__ == "__main__":
    main()
