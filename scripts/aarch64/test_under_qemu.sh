#!/usr/bin/env bash
# Builds sgz_fast's CPU extension for aarch64 (Linux, NEON) on an x86-64 Debian 12 machine and
# runs the CPU op tests under qemu-aarch64 (user mode), then counts NEON FMAs and q-register
# stack traffic in the dsconv hot loops of the aarch64 binary.
#
#   bash scripts/aarch64/test_under_qemu.sh [extra pytest args]
#
# Environment:
#   SGZ_QEMU_TESTS   pytest targets/selection (default: the CPU op test files, see TESTS)
#   SGZ_QEMU_K       pytest -k expression (default: skips what needs a C++ compiler or CUDA)
#   SGZ_QEMU_JOBS    parallel compile jobs (default 2)
#
# Nothing goes into the project's .venv: everything lands under build/aarch64/ (git-ignored)
# and is reused on the next run. Heavy steps run under `nice -n 19`.
set -euo pipefail

SCRIPT=$(realpath "${BASH_SOURCE[0]}")
ROOT=$(cd "$(dirname "$SCRIPT")/../.." && pwd)
OUT=$ROOT/build/aarch64
WHEELS=$OUT/wheels      # pip download cache (aarch64 wheels)
DEBS=$OUT/debs          # Debian bookworm arm64 .debs (python3.11 and the libraries it needs)
APTDIR=$OUT/apt         # a private apt state: arm64 package lists without touching the system's
SYSROOT=$OUT/sysroot    # the .debs unpacked (dpkg -x): qemu-aarch64 -L root
SITE=$OUT/site          # aarch64 site-packages: torch, numpy, pytest, CUDA runtime libraries
OBJ=$OUT/obj            # object files
PKG=$OUT/pkg            # staging tree: sgz_fast/ (with the aarch64 _C) + tests/ + pyproject.toml
LOGS=$OUT/logs
NICE="nice -n 19"
JOBS=${SGZ_QEMU_JOBS:-2}
HOST_PYTHON=${HOST_PYTHON:-python3}   # any host Python 3.11 with pip: it downloads, never installs here
mkdir -p "$WHEELS" "$DEBS" "$APTDIR" "$SYSROOT" "$SITE" "$OBJ" "$PKG" "$LOGS"

T0=$SECONDS
step() { printf '\n=== [%4ss] %s\n' "$((SECONDS - T0))" "$*"; }
die() { echo "ERROR: $*" >&2; exit 1; }

# ------------------------------------------------------------------------------------------
step "1/6 host tools (cross g++, binutils, qemu-user)"
need=()
command -v aarch64-linux-gnu-g++ >/dev/null || need+=(g++-aarch64-linux-gnu)
command -v aarch64-linux-gnu-objdump >/dev/null || need+=(binutils-aarch64-linux-gnu)
command -v qemu-aarch64 >/dev/null || need+=(qemu-user)
if ((${#need[@]})); then
  echo "installing: ${need[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive $NICE apt-get install -y -q --no-install-recommends "${need[@]}"
fi
aarch64-linux-gnu-g++ --version | head -1
qemu-aarch64 --version | head -1

# ------------------------------------------------------------------------------------------
step "2/6 aarch64 wheels (pip download, cached in $WHEELS)"
# The local torch's version decides the aarch64 one: the extension is built and tested against
# the same release. "+cu130" etc. is a local tag PyPI does not carry: the plain version is the
# PyPI wheel (for aarch64 that is itself the CUDA 13.0 build, which needs the CUDA runtime
# libraries below to load even though no GPU is used).
TORCH_LOCAL=$("$ROOT/.venv/bin/python" -c 'import torch; print(torch.__version__)' 2>/dev/null \
              || "$HOST_PYTHON" -c 'import torch; print(torch.__version__)')
TORCH_VERSION=${TORCH_LOCAL%%+*}
echo "local torch $TORCH_LOCAL -> aarch64 torch==$TORCH_VERSION"
# Versions: those of the local .venv where it has the package (same numpy, same CUDA libraries
# as torch's metadata pins), else the newest.
pinned() {  # pinned NAME: "NAME==<.venv version>", or NAME where the .venv lacks it
  local v
  v=$("$ROOT/.venv/bin/python" -c "import importlib.metadata as m; print(m.version('$1'))" 2>/dev/null) \
    && echo "$1==$v" || echo "$1"
}
# Everything `import torch` loads (torch/lib/*.so NEED the CUDA runtime, cuBLAS, cuDNN, NCCL,
# ...), torch's pure-Python dependencies, numpy, and pytest. Not triton (only torch.compile's
# inductor backend wants it, and that also needs a C++ compiler inside the emulated machine).
WANT=(torch=="$TORCH_VERSION" numpy filelock typing-extensions sympy mpmath networkx jinja2
      markupsafe fsspec setuptools pytest pluggy iniconfig packaging pygments
      nvidia-cuda-runtime nvidia-cublas nvidia-cusparse nvidia-cufft nvidia-cufile
      nvidia-cusparselt-cu13 nvidia-nccl-cu13 nvidia-curand nvidia-cudnn-cu13 nvidia-cuda-nvrtc
      nvidia-cuda-cupti nvidia-nvshmem-cu13 nvidia-nvjitlink)
SPECS=()
for w in "${WANT[@]}"; do
  if [[ $w == *==* ]]; then SPECS+=("$w"); else SPECS+=("$(pinned "$w")"); fi
done
# aarch64 wheel tags for CPython 3.11 on glibc <= 2.36 (Debian 12's).
PIP_TARGET_FLAGS=(--only-binary=:all: --python-version 3.11 --implementation cp --abi cp311
                  --abi abi3 --abi none --platform manylinux2014_aarch64 --platform linux_aarch64)
for v in $(seq 17 36); do PIP_TARGET_FLAGS+=(--platform "manylinux_2_${v}_aarch64"); done
# A stamp per spec list: a second run downloads nothing.
SPEC_STAMP=$WHEELS/.specs-$(printf '%s\n' "${SPECS[@]}" | md5sum | cut -c1-12)
if [[ ! -e $SPEC_STAMP ]]; then
  echo "pip download: ${SPECS[*]}"
  $NICE "$HOST_PYTHON" -m pip download -q --no-deps "${PIP_TARGET_FLAGS[@]}" -d "$WHEELS" \
    "${SPECS[@]}" 2>&1 | grep -v -e '^WARNING: Location' || true
  for s in "${SPECS[@]}"; do  # the pipe above hides pip's status: check each wheel is here
    n=${s%%==*}; n=${n//-/_}
    compgen -G "$WHEELS/${n}-*.whl" >/dev/null || compgen -G "$WHEELS/${n,,}-*.whl" >/dev/null \
      || die "no aarch64 cp311 wheel for $s on PyPI (pip download failed; see above)"
  done
  touch "$SPEC_STAMP"
fi
ls "$WHEELS"/torch-*aarch64*.whl >/dev/null 2>&1 \
  || die "PyPI has no aarch64 cp311 wheel of torch $TORCH_VERSION"
du -sh "$WHEELS" | sed 's/^/wheels: /'

# Unpack into a --target site-packages (pip compiles the .pyc with the host's 3.11, which the
# emulated 3.11 reuses: same bytecode, and far faster than compiling under emulation).
if [[ ! -e $SITE/.stamp-${SPEC_STAMP##*-} ]]; then
  rm -rf "$SITE" && mkdir -p "$SITE"
  $NICE "$HOST_PYTHON" -m pip install -q --root-user-action=ignore --no-index --no-deps \
    --find-links "$WHEELS" --target "$SITE" "${PIP_TARGET_FLAGS[@]}" "${SPECS[@]}"
  touch "$SITE/.stamp-${SPEC_STAMP##*-}"
fi

# ------------------------------------------------------------------------------------------
step "3/6 aarch64 CPython 3.11 (Debian bookworm arm64 .debs -> $SYSROOT)"
# A private apt configuration (own sources, lists, cache and empty dpkg status) reads the arm64
# package lists without `dpkg --add-architecture` on this machine.
APT=(-o APT::Architecture=arm64 -o APT::Architectures::=arm64 -o Dir::State="$APTDIR"
     -o Dir::State::lists="$APTDIR/lists" -o Dir::State::status="$APTDIR/status"
     -o Dir::Cache="$APTDIR/cache" -o Dir::Etc::sourcelist="$APTDIR/sources.list"
     -o Dir::Etc::sourceparts="$APTDIR/parts" -o Debug::NoLocking=1
     -o APT::Sandbox::User=root)  # root: apt's _apt user may not write into build/
# Python itself (the binary is in -minimal, the stdlib in the two libpython packages, the
# headers in -dev), the C/C++ runtime, and the libraries of the stdlib's extension modules
# (ctypes -> libffi, hashlib/ssl -> libssl, ...). Written out rather than apt's recursive
# closure, which drags in perl, dpkg and tar.
DEB_PKGS=(python3.11-minimal libpython3.11-minimal libpython3.11-stdlib libpython3.11-dev
          libc6 libgcc-s1 libstdc++6 zlib1g libexpat1 libffi8 libbz2-1.0 liblzma5 libssl3
          libsqlite3-0 libuuid1 libncursesw6 libtinfo6 libreadline8 libdb5.3 libgdbm6 libcrypt1
          libnsl2 libtirpc3 libtirpc-common libgssapi-krb5-2 libkrb5-3 libk5crypto3
          libkrb5support0 libcom-err2 libkeyutils1 media-types)
DEB_STAMP=$SYSROOT/.stamp-$(printf '%s\n' "${DEB_PKGS[@]}" | md5sum | cut -c1-12)
if [[ ! -e $DEB_STAMP ]]; then
  mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial" "$APTDIR/parts"
  touch "$APTDIR/status"
  key=/usr/share/keyrings/debian-archive-keyring.gpg
  cat > "$APTDIR/sources.list" <<EOF
deb [arch=arm64 signed-by=$key] http://deb.debian.org/debian bookworm main
deb [arch=arm64 signed-by=$key] http://deb.debian.org/debian bookworm-updates main
deb [arch=arm64 signed-by=$key] http://deb.debian.org/debian-security bookworm-security main
EOF
  $NICE apt-get "${APT[@]}" -q update >"$LOGS/apt-update.log" 2>&1 \
    || { cat "$LOGS/apt-update.log"; die "apt-get update (arm64 lists) failed"; }
  (cd "$DEBS" && rm -f ./*.deb && $NICE apt-get "${APT[@]}" -q download "${DEB_PKGS[@]}")
  rm -rf "$SYSROOT" && mkdir -p "$SYSROOT"
  for d in "$DEBS"/*.deb; do dpkg -x "$d" "$SYSROOT"; done
  touch "$DEB_STAMP"
fi
ls "$DEBS"/python3.11-minimal_*_arm64.deb | xargs -n1 basename | sed 's/^/python: /'
du -sh "$DEBS" | sed 's/^/debs: /'

# The emulated CPU: a Neoverse N1 (Graviton2, Ampere Altra): ARMv8.2 with NEON and no SVE, so
# ATen itself also runs its NEON (DEFAULT) kernels, like sgz_fast. qemu 7.2 does not emulate
# /proc/cpuinfo or the MIDR sysfs entries for aarch64 guests, so the guest reads the host's x86
# ones, and torch's cpuinfo then finds no ARM core and crashes on import (SIGSEGV in
# cpuinfo_arm_linux_init). qemu -L serves a file from the sysroot when the sysroot has it:
# ARM ones are written there, one entry per host CPU (/sys/.../possible is the host's).
QEMU_CPU=neoverse-n1
MIDR=0x00000000413fd0c1   # implementer 0x41 (Arm), variant 3, part 0xd0c (Neoverse N1), r3p1
NCPU=$(getconf _NPROCESSORS_CONF)
mkdir -p "$SYSROOT/proc"
for ((i = 0; i < NCPU; i++)); do
  printf 'processor\t: %d\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp ssbs\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x3\nCPU part\t: 0xd0c\nCPU revision\t: 1\n\n' "$i"
  mkdir -p "$SYSROOT/sys/devices/system/cpu/cpu$i/regs/identification"
  echo "$MIDR" > "$SYSROOT/sys/devices/system/cpu/cpu$i/regs/identification/midr_el1"
done > "$SYSROOT/proc/cpuinfo"

# The emulated python. qemu's -0 makes argv[0] (hence sys.executable) this script, so that tests
# which start `sys.executable -c ...` run it again through qemu: the host kernel runs the
# script, there is no binfmt_misc registration (that would be machine-wide). It sits beside the
# real binary so Python finds its stdlib from argv[0] as usual.
PY=$SYSROOT/usr/bin/python3.11-qemu
cat > "$PY" <<EOF
#!/bin/sh
# Generated by scripts/aarch64/test_under_qemu.sh: CPython 3.11 aarch64 under qemu-aarch64.
exec qemu-aarch64 -cpu $QEMU_CPU -L "$SYSROOT" -0 "\$0" "$SYSROOT/usr/bin/python3.11" "\$@"
EOF
chmod +x "$PY"
export PYTHONPATH=$SITE PYTHONNOUSERSITE=1 SGZ_FAST_CPU_CAPABILITY=

# ------------------------------------------------------------------------------------------
step "4/6 cross-compile sgz_fast._C for aarch64 (DEFAULT level only, as setup.py on non-x86)"
CXX=aarch64-linux-gnu-g++
PYINC=$SYSROOT/usr/include/python3.11
# setup.py through torch's cpp_extension: Python's CFLAGS (-DNDEBUG -g -fwrapv -O3 -Wall -fPIC),
# torch's and Python's include dirs, then setup.py's cxx_flags, the extension defines and
# -std=c++20 (cpp_extension's), and for csrc/cpu/kernels/*.cpp the DEFAULT level's flags.
# No -DSGZ_CPU_X86_LEVELS: off x86 there is only the DEFAULT level.
CFLAGS=(-Wsign-compare -DNDEBUG -g -fwrapv -O3 -Wall -fPIC
        -I"$SITE/torch/include" -I"$SITE/torch/include/torch/csrc/api/include"
        -I"$PYINC" -I"$SYSROOT/usr/include")  # the last: Debian's multiarch pyconfig.h
# setup.py's own cxx_flags and cpu_levels() (read from its source, with platform.machine()
# answering aarch64), so this build follows setup.py's flags as they change.
SETUP_OUT=$("$HOST_PYTHON" - "$ROOT/setup.py" <<'PYEOF'
import ast, os, platform, shlex, sys
tree = ast.parse(open(sys.argv[1]).read())
platform.machine = lambda: "aarch64"
ns = {"platform": platform, "os": os, "sys": sys, "shlex": shlex}
for node in tree.body:  # the function, then the top-level assignments of the flags it needs
    if isinstance(node, ast.FunctionDef) and node.name == "cpu_levels":
        exec(compile(ast.Module([node], []), "setup.py", "exec"), ns)
        ns["CPU_LEVELS"] = ns["cpu_levels"]()
    if isinstance(node, ast.Assign) and {getattr(t, "id", "") for t in node.targets} & {"openmp", "cxx_flags"}:
        exec(compile(ast.Module([node], []), "setup.py", "exec"), ns)
levels = ns["CPU_LEVELS"]
assert [name for name, _ in levels] == ["DEFAULT"], levels  # hence no -DSGZ_CPU_X86_LEVELS
print(" ".join(ns["cxx_flags"]), "|", " ".join(levels[0][1]), "|",
      " ".join(ns.get("openmp", ["-fopenmp"])))  # openmp: also setup.py's extra_link_args
PYEOF
) || die "could not read cxx_flags / cpu_levels() from setup.py"
read -r -a SETUP_FLAGS <<< "$SETUP_OUT"
CXX_FLAGS=() LEVEL=() LINK=() side=0
for f in "${SETUP_FLAGS[@]}"; do
  case $f:$side in
    "|":*) side=$((side + 1)) ;;
    *:0) CXX_FLAGS+=("$f") ;;
    *:1) LEVEL+=("$f") ;;
    *) LINK+=("$f") ;;
  esac
done
POST=("${CXX_FLAGS[@]}" -DTORCH_API_INCLUDE_EXTENSION_H -DTORCH_EXTENSION_NAME=_C -std=c++20)
echo "setup.py: cxx_flags ${CXX_FLAGS[*]}; DEFAULT level flags ${LEVEL[*]}; link ${LINK[*]}"
cd "$ROOT"
SRC_OPS=(csrc/ops.cpp csrc/cpu/*.cpp)
SRC_LEVEL=(csrc/cpu/kernels/*.cpp)
# Rebuild an object when its source, any header, the flags or the torch headers are newer.
FLAGS_FILE=$OBJ/flags.txt
flags="$CXX ${CFLAGS[*]} ${POST[*]} ${LEVEL[*]}"
[[ -e $FLAGS_FILE && $(cat "$FLAGS_FILE") == "$flags" ]] || echo "$flags" > "$FLAGS_FILE"
newest_dep=$(ls -t csrc/cpu/*.h csrc/cpu/kernels/*.h csrc/common/*.h "$FLAGS_FILE" \
             "$SITE/.stamp-"* 2>/dev/null | head -1)
jobs_file=$OBJ/jobs.txt; : > "$jobs_file"
for s in "${SRC_OPS[@]}" "${SRC_LEVEL[@]}"; do
  o=$OBJ/${s//\//_}.o
  if [[ ! -e $o || $s -nt $o || $newest_dep -nt $o ]]; then
    if [[ $s == csrc/cpu/kernels/* ]]; then extra="${LEVEL[*]}"; else extra=""; fi
    echo "$CXX ${CFLAGS[*]} -c $s -o $o ${POST[*]} $extra" >> "$jobs_file"
  fi
done
if [[ -s $jobs_file ]]; then
  echo "compiling $(wc -l < "$jobs_file") file(s), $JOBS at a time"
  # One shell line per file; xargs -P runs them in parallel and fails if any fails.
  # torch's headers warn a lot (#pragma unroll, ABI notes): the output goes to a log.
  tr '\n' '\0' < "$jobs_file" | $NICE xargs -0 -P "$JOBS" -I{} sh -c '{}' \
    > "$LOGS/compile.log" 2>&1 || { tail -40 "$LOGS/compile.log"; die "compilation failed"; }
  echo "$(grep -c 'warning:' "$LOGS/compile.log") warning(s), in ${LOGS#"$ROOT"/}/compile.log"
fi
SO_NAME=_C.cpython-311-aarch64-linux-gnu.so
mkdir -p "$PKG/sgz_fast"
SO=$PKG/sgz_fast/$SO_NAME
OBJS=()
for s in "${SRC_OPS[@]}" "${SRC_LEVEL[@]}"; do OBJS+=("$OBJ/${s//\//_}.o"); done
if [[ ! -e $SO ]] || [[ -n $(find "${OBJS[@]}" -newer "$SO") ]]; then
  # As cpp_extension links: -shared, torch's libraries, setup.py's extra_link_args (-fopenmp:
  # libgomp.so.1, which torch's wheel ships and has loaded already). The per-level objects come
  # last (setup.py's extra_objects). rpath-link only lets ld find the CUDA libraries torch's
  # libraries NEED; nothing of them is linked in.
  $NICE $CXX -shared "${OBJS[@]}" -L"$SITE/torch/lib" -lc10 -ltorch -ltorch_cpu -ltorch_python \
    "${LINK[@]}" -Wl,-rpath-link,"$SITE/torch/lib" \
    $(printf -- '-Wl,-rpath-link,%s ' "$SITE"/nvidia/*/lib) -o "$SO"
fi
file "$SO" | sed "s|$ROOT/||"

# The Python package beside it (sources only: no x86 _C, no x86 _build_config), the tests, and
# pyproject.toml (pytest's rootdir and options): tests that run `python -c` from the source
# root (ROOT = tests/..) then import this sgz_fast, not the x86 one in the checkout.
find "$PKG/sgz_fast" -mindepth 1 -maxdepth 1 ! -name "$SO_NAME" -exec rm -rf {} +
rm -rf "$PKG/tests"
(cd "$ROOT" && tar cf - --exclude=__pycache__ --exclude='_C*.so' --exclude=_build_config.py \
   sgz_fast tests) | (cd "$PKG" && tar xf -)
cp "$ROOT/pyproject.toml" "$PKG/"
# What setup.py would write (cpu_levels: only 'default' off x86).
cat > "$PKG/sgz_fast/_build_config.py" <<EOF
"""Written by scripts/aarch64/test_under_qemu.sh (as setup.py would): how sgz_fast._C was built."""
cuda_requested = False
cuda_reason = 'aarch64 cross build of the CPU kernels only'
cuda_arch_list = ''
cpu_levels = ['default']
built_with_torch = '$TORCH_LOCAL'
EOF

# ------------------------------------------------------------------------------------------
step "5/6 pytest under qemu-aarch64"
cd "$PKG"
t=$SECONDS
"$PY" -c 'import platform, torch, sgz_fast
info = sgz_fast.build_info()
print("python", platform.python_version(), platform.machine(), "| torch", torch.__version__,
      "| ATen CPU capability", torch.backends.cpu.get_cpu_capability())
print("sgz_fast: loaded", info["extension_loaded"], info["extension_error"] or "",
      "| levels", info["cpu_levels"], "| running", info["cpu_capability"],
      "| cuda available", info["cuda_available"])
assert info["extension_loaded"] and info["cpu_levels"] == ["default"]' \
  || die "sgz_fast does not import under qemu"
echo "(import took $((SECONDS - t))s under emulation)"
read -r -a TESTS <<< "${SGZ_QEMU_TESTS:-tests/test_curve_iter.py tests/test_dsconv.py tests/test_curve_uint8.py tests/test_cpu_capability.py tests/test_factor_net.py}"
# Skipped on purpose: torch.compile's inductor backend (it compiles C++ with a compiler inside
# the emulated machine: none is there); the cuda/avx* devices skip themselves.
K=${SGZ_QEMU_K:-not inductor}
set +e
$NICE "$PY" -m pytest -p no:cacheprovider -q -rfEs --durations=5 -k "$K" "${TESTS[@]}" "$@" \
  > "$LOGS/pytest.log" 2>&1
PYTEST_RC=$?
set -e
# The log less pytest's one line per skip reason and test line; the skips summed by reason.
grep -v '^SKIPPED \[' "$LOGS/pytest.log" || true
echo "skipped, by reason:"
sed -nE 's/^SKIPPED \[([0-9]+)\] [^:]+:[0-9]+: (.*)/\1\t\2/p' "$LOGS/pytest.log" \
  | awk -F'\t' '{n[$2] += $1} END {for (r in n) printf "  %4d  %s\n", n[r], r}' | sort -rn
# pytest's closing line ("N passed, M skipped in Ts", between "=" rules unless -q).
PYTEST_LINE=$(grep -E '^(=+ )?[0-9]+ (passed|failed|skipped|deselected|errors?)\b.* in [0-9.]+s' \
              "$LOGS/pytest.log" | tail -1 | sed -E 's/^=+ | =+$//g' || true)

# ------------------------------------------------------------------------------------------
step "6/6 NEON check of the dsconv hot loops (aarch64-linux-gnu-objdump -d -C)"
# scripts/aarch64/neon_report.py: per function, fmla on .4s/.2d vectors and q-register
# loads/stores to the stack, in and out of loops (see its docstring).
NEON_REPORT=$("$HOST_PYTHON" "$ROOT/scripts/aarch64/neon_report.py" "$SO")
echo "$NEON_REPORT"

# ------------------------------------------------------------------------------------------
echo
echo "=================================== summary ==================================="
echo "torch (aarch64 wheel): $(basename "$(ls "$WHEELS"/torch-*aarch64*.whl)")"
echo "python (aarch64):      $(basename "$(ls "$DEBS"/python3.11-minimal_*_arm64.deb)")"
echo "extension:             ${SO#"$ROOT"/}"
echo "pytest under qemu:     ${PYTEST_LINE:-<no summary line; see $LOGS/pytest.log>} (exit $PYTEST_RC)"
grep -E '^(FAILED|ERROR) ' "$LOGS/pytest.log" | cut -c1-160 | sed 's/^/  /' || true
echo "  (tests: ${TESTS[*]}; -k '$K'; full log ${LOGS#"$ROOT"/}/pytest.log)"
echo "NEON in the dsconv hot loops (sgz::cpu::DEFAULT):"
echo "$NEON_REPORT" | sed 's/^/  /'
echo "total time:            $((SECONDS - T0))s"
exit "$PYTEST_RC"
