"""Checks the built extension's machine code, level by level (x86-64).

    python scripts/check_cpu_isa.py [path/to/_C.so]     (default: the one sgz_fast loads)

1. No instruction above a function's level: AVX-512 (zmm, mask or xmm/ymm16-31 registers) only
   in the AVX512 level's functions (sgz::cpu::AVX512, at::vec::AVX512), VEX-encoded (AVX)
   instructions only there and in the AVX2 level's; everything else, torch's inlined headers
   included, baseline x86-64. A weak inline function compiled for AVX-512 that the linker kept
   for every level would show up here as an AVX-512 instruction outside the AVX512 namespaces.
2. No accumulator spills in the hot loops: in each level's dsconv forward_rows and
   backward_rows, no packed FMA (SSE2: packed multiply or add) reads a stack slot that a
   vector store later in the same loop writes back (a block's accumulators that do not fit
   the register file go round the stack: `vfmadd213ps 0x40(%rsp), ...; vmovaps ..., 0x40(%rsp)`).
   nor does such a loop store a vector to the stack (accumulators kept in registers but written
   back every iteration). Loops are the leaf loops (no loop inside) that call no function (a
   call clobbers every vector register, so what lives across it is on the stack by rule).
   Stack operands only read in a loop, such as weights broadcast once before it, are counted
   apart and allowed.
Exits 1 with the offending functions listed. Needs objdump (binutils).
"""
import re
import subprocess
import sys
from collections import defaultdict

AVX512 = re.compile(r"%zmm|%k[1-7]\b|%[xy]mm(1[6-9]|2[0-9]|3[01])\b|\{1to\d+\}")
VEX = re.compile(r"^v[a-z]")  # every AVX/AVX2/AVX-512 mnemonic starts with v
# Packed multiply-adds: FMAs, and baseline SSE2's multiplies and adds (it has no FMA).
PACKED_MADD = re.compile(r"^(vf(n?)m(add|sub)\d*p[sd]|(mul|add)p[sd])$")
LEVEL_NAMESPACES = {"AVX512": ("sgz::cpu::AVX512::", "at::vec::AVX512::"),
                    "AVX2": ("sgz::cpu::AVX2::", "at::vec::AVX2::")}
HOT_LOOPS = ("forward_rows<", "backward_rows<")


def functions(path):
    """{demangled function name: [(address, mnemonic, operands)]} from objdump."""
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", "-C", path],
                         capture_output=True, text=True, check=True).stdout
    found, current = defaultdict(list), None
    for line in out.splitlines():
        header = re.match(r"^[0-9a-f]+ <(.*)>:$", line)
        if header:
            current = header.group(1)
            continue
        parts = line.split("\t")
        if current is None or len(parts) < 2 or not parts[-1].strip():
            continue
        fields = parts[-1].split(None, 1)
        address = int(parts[0].strip().rstrip(":"), 16)
        found[current].append((address, fields[0], fields[1] if len(fields) > 1 else ""))
    return found


def stack_slot(operands):
    match = re.search(r"(-?0x[0-9a-f]+|-?\d+)?\(%r[sb]p\)", operands)
    return match.group(0) if match else None


def spills(code):
    """(packed multiply-adds, those reading the stack, those whose slot a vector store in the
    same innermost loop writes: accumulators going round the stack). A loop is the span of a
    backward jump; the innermost one around an instruction is the shortest such span."""
    loops = []
    for address, mnemonic, operands in code:
        target = re.match(r"([0-9a-f]+) <", operands)
        if mnemonic.startswith("j") and target and int(target.group(1), 16) <= address:
            loops.append((int(target.group(1), 16), address))
    madds = [(a, stack_slot(ops)) for a, m, ops in code if PACKED_MADD.match(m)]
    stores = [(a, stack_slot(ops.split(",")[-1])) for a, m, ops in code
              if "mov" in m and re.match(r"%[xyz]mm\d+,", ops)]
    reads = [(a, slot) for a, slot in madds if slot]
    calls = [a for a, m, _ in code if m.startswith("call")]

    def innermost(a):
        """The leaf loop around address a (one with no loop inside), or None."""
        around = [(hi - lo, lo, hi) for lo, hi in loops if lo <= a <= hi]
        if not around:
            return None
        _, lo, hi = min(around)
        nested = any(lo <= l2 and h2 <= hi and (l2, h2) != (lo, hi) for l2, h2 in loops)
        return None if nested or any(lo <= c <= hi for c in calls) else (lo, hi)

    spilled = 0
    for a, slot in reads:
        loop = innermost(a)
        if loop:
            spilled += any(s == slot and loop[0] <= b <= loop[1] for b, s in stores)
    # Accumulators kept in registers but written back to the stack every iteration (GCC does
    # this for an array whose address escapes): stores to the stack in a loop of FMAs.
    fma_loops = {loop for loop in map(innermost, (a for a, _ in madds)) if loop}
    written_back = sum(1 for b, slot in stores if slot
                       and any(lo <= b <= hi for lo, hi in fma_loops))
    return len(madds), len(reads), spilled + written_back


def level_of(name):
    for level, prefixes in LEVEL_NAMESPACES.items():
        if any(prefix in name for prefix in prefixes):
            return level
    return "baseline"


def check(path):
    problems, report = [], []
    for name, code in functions(path).items():
        level = level_of(name)
        uses_avx512 = any(AVX512.search(ops) for _, _, ops in code)
        uses_vex = any(VEX.match(mnemonic) for _, mnemonic, _ in code)
        if uses_avx512 and level != "AVX512":
            problems.append(f"AVX-512 instructions in {level} code: {name}")
        elif uses_vex and level == "baseline":
            problems.append(f"AVX instructions in baseline code: {name}")
        if "sgz::cpu::" in name and any(h in name for h in HOT_LOOPS) and "Channels" in name:
            madds, reads, spilled = spills(code)
            short = re.search(r"::(\w+<\w+>)\(", name).group(1)
            report.append(f"{level if level != 'baseline' else 'DEFAULT':>8} {short:<24} "
                          f"packed FMAs {madds:4d}; reading the stack {reads:3d}, of which "
                          f"spilled accumulators {spilled}")
            if spilled:
                problems.append(f"{spilled} packed FMAs go round the stack (spilled "
                                f"accumulators) in {name}")
    return problems, report


def main():
    if len(sys.argv) > 1:
        path = sys.argv[1]
    else:
        import sgz_fast._C
        path = sgz_fast._C.__file__
    problems, report = check(path)
    print("\n".join(sorted(report)))
    if problems:
        print("\n".join(["FAILED:", *problems]))
        sys.exit(1)
    print(f"ok: {path}: every instruction within its function's level; no spilled FMAs")


if __name__ == "__main__":
    main()
