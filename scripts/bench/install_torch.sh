#!/usr/bin/env bash
# Install a CPU-usable PyTorch from PyPI into a cached venv, cheaply.
#
#   ${XDG_CACHE_HOME:-$HOME/.cache}/llm-subnet/bench-venv
#
# Why this is not just `pip install torch`: PyPI's Linux x86_64 torch wheel is
# the CUDA build. It declares ~20 nvidia-*/cuda-*/triton dependencies (about
# 2.8 GB of wheels for torch 2.15.0, several GB unpacked), and its shared
# libraries hard-link the CUDA libraries -- even libtorch_cpu.so has DT_NEEDED
# libcudart.so.13 and libcupti.so.13 -- so `pip install --no-deps torch` alone
# fails at `import torch` ("libcudart.so.13: cannot open shared object file").
# CPU-only wheels live only on the PyTorch index, which this machine cannot reach.
#
# Route taken here (about 540 MB of downloads instead of about 2.8 GB):
#   1. pip install --no-deps torch==$TORCH_VERSION   (the 539 MB wheel only)
#   2. pip install its small pure-python runtime deps (filelock, typing-extensions,
#      sympy, mpmath, networkx, jinja2, markupsafe, fsspec) plus numpy
#   3. generate tiny *stub* libraries for every CUDA soname torch links but that
#      cannot be found (libcudart.so.13, libcublas.so.13, libcudnn.so.9, ...):
#      each exports exactly the symbols (with the symbol versions) torch imports
#      from it, as functions that fail (cudaGetDeviceCount -> 0 devices,
#      cudaErrorNoDevice). They are compiled with the system gcc into torch/lib
#      (which every torch library's RUNPATH ends with, after the nvidia/* dirs,
#      so real CUDA wheels, if ever installed, still win).
#   4. smoke test: import torch, CUDA reported unavailable, a CPU matmul+backward.
# None of the CPU kernels are touched: the CPU code paths are the stock PyPI
# binary (MKL + oneDNN), so the numbers are the ones a stock install would give.
#
# Env knobs: TORCH_VERSION (default pinned below), PYTHON (base interpreter,
# default python3), LLM_SUBNET_BENCH_VENV (override the venv path).
# Progress goes to stderr; the last line on stdout is the venv's python path.
set -euo pipefail

TORCH_VERSION="${TORCH_VERSION:-2.15.0}"
# Small runtime deps of torch (pinned: the versions resolved with torch 2.15.0).
TORCH_PY_DEPS=(
  "filelock==4.2.11"
  "typing-extensions==4.16.0"
  "sympy==1.14.0"
  "mpmath==1.3.0"
  "networkx==3.6.1"
  "jinja2==3.1.6"
  "markupsafe==3.0.4"
  "fsspec==2026.9.0"
  "numpy==2.4.6"
)
PYTHON_BASE="${PYTHON:-python3}"
CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/llm-subnet"
VENV="${LLM_SUBNET_BENCH_VENV:-$CACHE_DIR/bench-venv}"
VPY="$VENV/bin/python"
STAMP="$VENV/.torch-cpu-${TORCH_VERSION}.ok"

log() { echo "[install_torch] $*" >&2; }

smoke_test() {
  "$VPY" - <<'EOF' >&2
import torch
assert not torch.cuda.is_available(), "expected no CUDA"
x = torch.randn(64, 64, requires_grad=True)
(x @ x).square().mean().backward()
assert x.grad is not None and torch.isfinite(x.grad).all()
print(f"[install_torch] torch {torch.__version__} OK on CPU "
      f"(threads={torch.get_num_threads()}, cuda_available={torch.cuda.is_available()})")
EOF
}

# Fast path: already installed and working.
if [[ -f "$STAMP" && -x "$VPY" ]] && smoke_test 2>/dev/null; then
  log "already installed ($STAMP)"
  echo "$VPY"
  exit 0
fi

# Serialize concurrent installs into the same venv.
mkdir -p "$(dirname "$VENV")"
if command -v flock >/dev/null; then
  exec 9>"$VENV.lock"
  flock 9
fi

# --- 1. venv -----------------------------------------------------------------
if [[ ! -x "$VPY" ]]; then
  log "creating venv $VENV with $("$PYTHON_BASE" --version 2>&1)"
  if ! "$PYTHON_BASE" -m venv "$VENV" >&2; then
    rm -rf "$VENV"
    log "ERROR: '$PYTHON_BASE -m venv' failed (on Debian's own python: apt-get install python3-venv)"
    exit 1
  fi
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1

# --- 2. torch wheel without its CUDA dependency tree --------------------------
log "pip install --no-deps torch==$TORCH_VERSION (about 540 MB download)"
"$VPY" -m pip install --no-input --no-deps "torch==$TORCH_VERSION" >&2
log "pip install small runtime deps"
# --no-deps + exact pins: deterministic, and pip never tries to resolve torch's
# nvidia-* requirements. (pip may print "torch requires nvidia-..., which is not
# installed" -- expected, harmless.)
"$VPY" -m pip install --no-input --no-deps "${TORCH_PY_DEPS[@]}" >&2

# --- 3. CUDA stub libraries ---------------------------------------------------
if ! command -v gcc >/dev/null || ! command -v readelf >/dev/null; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    log "installing gcc/binutils (needed to build the CUDA stub libraries)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc binutils >&2
  else
    log "ERROR: need gcc and readelf (binutils) to build CUDA stub libraries"
    exit 1
  fi
fi

TORCH_DIR="$("$VPY" -c 'import importlib.util, os; print(os.path.dirname(importlib.util.find_spec("torch").origin))')"
STUB_WORK="$(mktemp -d)"
trap 'rm -rf "$STUB_WORK"' EXIT
# Drop stubs from an earlier run (maybe for another torch version) and rebuild.
STUB_MANIFEST="$TORCH_DIR/lib/.cuda-stubs-installed-by-install_torch"
if [[ -f "$STUB_MANIFEST" ]]; then
  while read -r so; do
    [[ -n "$so" ]] && rm -f "$TORCH_DIR/lib/$so"
  done < "$STUB_MANIFEST"
  rm -f "$STUB_MANIFEST"
fi

"$VPY" - "$TORCH_DIR" "$STUB_WORK" <<'PYEOF' >&2
"""Generate C sources + version scripts for stub CUDA libraries.

For every shared object shipped in torch/ (torch/lib/*.so*, torch/_C*.so):
  - DT_NEEDED entries that are neither shipped by torch, nor found by the
    dynamic linker's cache, nor present in site-packages/nvidia/*/lib are
    "missing" sonames;
  - versioned undefined symbols (sym@VERSION) whose version is provided by a
    missing soname (per the object's .gnu.version_r) are assigned to that stub,
    inside a version node of the same name;
  - unversioned undefined symbols that look like CUDA-library API (cu*, nccl*,
    nvshmem*, nvrtc*) and are defined nowhere else are assigned by prefix.
Every stub function fails: it returns a pointer to a static message (non-zero
as an error code, a valid C string for *GetErrorString-style calls); a few
device-count/init entry points report "no device" properly.
"""
import collections, glob, os, re, subprocess, sys

torch_dir, out_dir = sys.argv[1], sys.argv[2]
site = os.path.dirname(torch_dir)
objs = sorted(set(glob.glob(os.path.join(torch_dir, "lib", "*.so*"))
                  + glob.glob(os.path.join(torch_dir, "_C*.so"))))
objs = [p for p in objs if os.path.isfile(p) and not os.path.islink(p)]


def run(*args):
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


def needed(p):
    return re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", run("readelf", "-d", "-W", p))


def version_needs(p):
    """version name -> file (soname) from .gnu.version_r"""
    res, cur = {}, None
    for line in run("readelf", "-V", "-W", p).splitlines():
        m = re.search(r"File: (\S+)\s+Cnt:", line)
        if m:
            cur = m.group(1)
            continue
        m = re.search(r"Name: (\S+)\s+Flags:", line)
        if m and cur:
            res[m.group(1)] = cur
    return res


def dynsyms(p):
    res = []
    for line in run("readelf", "--dyn-syms", "-W", p).splitlines():
        f = line.split()
        if len(f) < 8 or not f[0].endswith(":") or not f[0][:-1].isdigit():
            continue
        name, ver = f[7], None
        m = re.match(r"([^@]+)@+(\S+)", name)
        if m:
            name, ver = m.group(1), m.group(2)
        res.append((f[3], f[4], f[6], name, ver))  # type, bind, ndx, name, version
    return res


ldcache = set()
ldconfig_out = ""
for exe in ("ldconfig", "/sbin/ldconfig", "/usr/sbin/ldconfig"):
    try:
        ldconfig_out = run(exe, "-p")
        break
    except (OSError, subprocess.CalledProcessError):
        pass
for line in ldconfig_out.splitlines():
    m = re.match(r"\s+(\S+) \(([^)]*)\) =>", line)
    if m and "x86-64" in m.group(2):
        ldcache.add(m.group(1))
ld_dirs = [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d]
nvidia_dirs = glob.glob(os.path.join(site, "nvidia", "*", "lib"))
shipped = {os.path.basename(p) for p in glob.glob(os.path.join(torch_dir, "lib", "*.so*"))}


def resolvable(soname):
    if soname in ldcache:
        return True
    return any(os.path.exists(os.path.join(d, soname)) for d in ld_dirs + nvidia_dirs)


missing = set()
for p in objs:
    for n in needed(p):
        if n not in shipped and not resolvable(n):
            missing.add(n)
# Only stub CUDA-ish libraries; anything else missing is a real problem.
cudaish = re.compile(r"^lib(cu|nccl|nvrtc|nvshmem|nvJitLink|nvToolsExt)")
bad = sorted(n for n in missing if not cudaish.match(n))
if bad:
    sys.exit(f"non-CUDA shared libraries missing, refusing to stub: {bad}")
if not missing:
    print("[install_torch] no missing CUDA libraries, no stubs needed")
    open(os.path.join(out_dir, "NONE"), "w").close()
    sys.exit(0)

defined = set()
for p in objs:
    for t, b, ndx, name, ver in dynsyms(p):
        if ndx != "UND":
            defined.add(name)

stubs = collections.defaultdict(lambda: collections.defaultdict(set))  # soname -> version|None -> syms
def owner_by_prefix(name, obj_missing):
    for pref, so in (("cusparseLt", "libcusparseLt"), ("cuFile", "libcufile"),
                     ("nccl", "libnccl"), ("nvshmem", "libnvshmem_host"),
                     ("nvrtc", "libnvrtc"), ("cublasLt", "libcublasLt"),
                     ("cublas", "libcublas"), ("cudnn", "libcudnn"),
                     ("cufft", "libcufft"), ("cusolver", "libcusolver"),
                     ("cusparse", "libcusparse"), ("cupti", "libcupti"),
                     ("cuda", "libcudart"), ("cu", "libcuda.")):
        if name.startswith(pref):
            for m in sorted(obj_missing):
                if m.startswith(so):
                    return m
    return sorted(obj_missing)[0] if obj_missing else None

for p in objs:
    obj_missing = {n for n in needed(p) if n in missing}
    if not obj_missing:
        continue
    vmap = version_needs(p)
    for t, b, ndx, name, ver in dynsyms(p):
        if ndx != "UND" or not name or b == "WEAK":
            continue
        if ver is not None:
            so = vmap.get(ver)
            if so in missing:
                stubs[so][ver].add(name)
        elif re.match(r"^(cu|nccl|nvshmem|nvrtc)", name) and name not in defined:
            so = owner_by_prefix(name, obj_missing)
            if so:
                stubs[so][None].add(name)
for so in missing:
    stubs[so]  # every missing soname gets a library, even if no symbols

special = {
    # int-returning "how many devices" entry points: report zero devices.
    "cudaGetDeviceCount": "int {n}(int *c) {{ trace(\"{n}\"); if (c) *c = 0; return 100; /* cudaErrorNoDevice */ }}",
    "cuDeviceGetCount": "int {n}(int *c) {{ trace(\"{n}\"); if (c) *c = 0; return 100; /* CUDA_ERROR_NO_DEVICE */ }}",
    "cuInit": "int {n}(unsigned f) {{ (void)f; trace(\"{n}\"); return 100; /* CUDA_ERROR_NO_DEVICE */ }}",
    "cudaGetLastError": "int {n}(void) {{ trace(\"{n}\"); return 0; }}",
    "cudaPeekAtLastError": "int {n}(void) {{ trace(\"{n}\"); return 0; }}",
}
header = r'''/* generated by scripts/bench/install_torch.sh: CUDA stub library for CPU-only torch */
#include <stdio.h>
#include <stdlib.h>
static const char stub_msg[] = "CUDA is not available (stub library installed by install_torch.sh)";
static void trace(const char *n) { if (getenv("TORCH_CUDA_STUB_TRACE")) fprintf(stderr, "cuda-stub: %s called\n", n); }
#define STUB(n) const char *n(void) { trace(#n); return stub_msg; }
/* __cudaRegisterFatBinary & co. run from static constructors at load: silent */
#define QSTUB(n) const char *n(void) { return stub_msg; }
'''
total = 0
for so, byver in sorted(stubs.items()):
    base = os.path.join(out_dir, so)
    allsyms = sorted(set().union(*byver.values())) if byver else []
    with open(base + ".c", "w") as f:
        f.write(header)
        for n in allsyms:
            if n in special:
                f.write(special[n].format(n=n) + "\n")
            else:
                f.write(f"{'QSTUB' if n.startswith('__cuda') else 'STUB'}({n})\n")
        if not allsyms:
            f.write("int torch_cuda_stub_placeholder(void) { return 0; }\n")
    versions = sorted(v for v in byver if v is not None)
    if versions:
        with open(base + ".map", "w") as f:
            for v in versions:
                f.write(f"{v} {{\n  global:\n")
                for n in sorted(byver[v]):
                    f.write(f"    {n};\n")
                # unversioned references bind to the default (first) node too
                if v == versions[0]:
                    for n in sorted(byver.get(None, ())):
                        f.write(f"    {n};\n")
                    f.write("  local: *;\n")
                f.write("};\n")
    total += len(allsyms)
    print(f"[install_torch] stub {so}: {len(allsyms)} symbols, versions {versions or '-'}")
with open(os.path.join(out_dir, "LIST"), "w") as f:
    f.write("\n".join(sorted(stubs)) + "\n")
print(f"[install_torch] {len(stubs)} stub libraries, {total} symbols")
PYEOF

if [[ ! -f "$STUB_WORK/NONE" ]]; then
  while read -r so; do
    [[ -n "$so" ]] || continue
    args=(-shared -fPIC -O1 -o "$STUB_WORK/$so" "-Wl,-soname,$so" "$STUB_WORK/$so.c")
    [[ -f "$STUB_WORK/$so.map" ]] && args+=("-Wl,--version-script=$STUB_WORK/$so.map")
    gcc "${args[@]}"
    install -m 0755 "$STUB_WORK/$so" "$TORCH_DIR/lib/$so"
    echo "$so" >> "$STUB_MANIFEST"
  done < "$STUB_WORK/LIST"
  log "installed $(wc -l < "$STUB_WORK/LIST") CUDA stub libraries into $TORCH_DIR/lib"
fi

# --- 4. smoke test -----------------------------------------------------------
if ! smoke_test; then
  log "ERROR: torch does not import/run in $VENV; remove that directory and re-run"
  exit 1
fi
touch "$STAMP"
echo "$VPY"
