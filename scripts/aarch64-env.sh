#!/usr/bin/env bash
# An aarch64 (Raspberry Pi / Jetson / Android ISA) Python 3.11 with edgekit installed the way a
# Pi user installs it, run under qemu-user on this x86_64 machine. Correctness only: qemu runs
# the real ARM instructions of the real aarch64 wheels, but its timings mean nothing.
#
# Usage: bash scripts/aarch64-env.sh [et]     (idempotent; a second run refreshes edgekit from this checkout)
# Makes the torch-free `edgekit[tflite,onnxruntime]` (ai-edge-litert, onnxruntime, numpy, pillow);
# with `et` also an ExecuTorch site. ExecuTorch's Python bindings link against libtorch, so the
# site pairs the runtime with a torch it was built for: torch 2.10.0 is the newest aarch64 wheel on
# the index that is a CPU build (2.11+ are CUDA builds, and 2.14.1's nvidia-nccl-cu13==2.30.7 has
# no aarch64 wheel), and executorch 1.5.1's aarch64 bindings were built against newer torch
# headers (with 2.10 they import, then fail on every input: "tensor does not have a device").
# executorch 1.2.0 was built against torch 2.10-2.12 headers and runs the .pte files
# executorch 1.5.1 writes (checked: Lite0 int8 on ARM vs x86). About 1 GB, 1-2 min; importing
# torch + executorch under qemu takes about a minute per process.
# Where: $EDGEKIT_AARCH64_ENV, else ${XDG_CACHE_HOME:-~/.cache}/edgekit/aarch64. CPU model:
# $EDGEKIT_QEMU_CPU (default cortex-a76, the Raspberry Pi 5 / phone-class core; cortex-a72 is a
# Pi 4). Not qemu's default "max": it advertises SVE/SME that no Pi has, and XNNPACK would pick
# kernels no device runs.
# Made here: sysroot/ (Debian bookworm arm64 python3.11 .debs unpacked with dpkg -x, not
# installed), cpuinfo (an ARM /proc/cpuinfo matching the emulated CPU: LiteRT's CPU detection
# reads /proc/cpuinfo and crashes on the host's x86 one), lite/ (pip --target with aarch64
# wheels), bin/python-lite and bin/edgekit launchers, env.json.
# Needs: root (apt-get, and `unshare -m` to bind-mount the cpuinfo) or unprivileged user
# namespaces (`unshare -rm`).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
[[ $# -eq 0 || "$1" == lite || "$1" == et ]] || { echo "usage: $0 [lite|et]" >&2; exit 2; }
WITH_ET=0; [[ "${1:-}" == et || -d "${EDGEKIT_AARCH64_ENV:-${XDG_CACHE_HOME:-$HOME/.cache}/edgekit/aarch64}/et" ]] && WITH_ET=1
ENV_DIR="${EDGEKIT_AARCH64_ENV:-${XDG_CACHE_HOME:-$HOME/.cache}/edgekit/aarch64}"
QCPU="${EDGEKIT_QEMU_CPU:-cortex-a76}"
HOST_PY="${PYTHON:-$REPO/.venv/bin/python}"
[[ -x "$HOST_PY" ]] || HOST_PY=python3
t0=$(date +%s)
mkdir -p "$ENV_DIR/debs" "$ENV_DIR/bin"

# 1. qemu-user-static and the arm64 package lists
if ! command -v qemu-aarch64-static >/dev/null || ! apt-cache show python3.11-minimal:arm64 >/dev/null 2>&1; then
    if [[ "${EDGEKIT_NO_APT:-0}" == "1" ]]; then
        echo "aarch64-env: needs qemu-user-static and the arm64 package lists (dpkg --add-architecture arm64), and EDGEKIT_NO_APT=1 forbids apt" >&2
        exit 1
    fi
    SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    $SUDO dpkg --add-architecture arm64
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq qemu-user-static >/dev/null
fi
QEMU="$(command -v qemu-aarch64-static)"

# 2. sysroot: arm64 python3.11 and the libraries its modules load (unpacked, nothing installed)
SYSROOT="$ENV_DIR/sysroot"
DEBS=(python3.11-minimal libpython3.11-minimal libpython3.11-stdlib libc6 zlib1g libexpat1 libffi8 libssl3
      libbz2-1.0 liblzma5 libsqlite3-0 libncursesw6 libtinfo6 libreadline8 libuuid1 libdb5.3 libgdbm6
      libcrypt1 libgcc-s1 libstdc++6 libgomp1 libnsl2 libtirpc3 libgssapi-krb5-2 libkrb5-3
      libk5crypto3 libkrb5support0 libcom-err2 libkeyutils1)
if [[ ! -x "$SYSROOT/usr/bin/python3.11" ]]; then
    rm -rf "$SYSROOT.tmp" && mkdir -p "$SYSROOT.tmp"
    (cd "$ENV_DIR/debs" && apt-get download -qq "${DEBS[@]/%/:arm64}")
    for d in "$ENV_DIR"/debs/*_arm64.deb; do dpkg -x "$d" "$SYSROOT.tmp"; done
    # qemu -L falls back to the host's path when the sysroot lacks one: empty site folders keep
    # the host's x86 dist-packages out of the emulated interpreter
    mkdir -p "$SYSROOT.tmp/usr/lib/python3/dist-packages" "$SYSROOT.tmp/usr/local/lib/python3.11/dist-packages"
    mv "$SYSROOT.tmp" "$SYSROOT"
fi

# 3. /proc/cpuinfo for the chosen CPU: MIDR fields of the real core, Features from the HWCAPs that
# qemu gives the emulated process (read from its auxv), so the two never disagree
case "$QCPU" in
    cortex-a76) PART=0xd0b; VAR=0x4; REV=1; NAME="Cortex-A76" ;;
    cortex-a72) PART=0xd08; VAR=0x0; REV=3; NAME="Cortex-A72" ;;
    cortex-a57) PART=0xd07; VAR=0x1; REV=1; NAME="Cortex-A57" ;;
    cortex-a53) PART=0xd03; VAR=0x0; REV=4; NAME="Cortex-A53" ;;
    neoverse-n1) PART=0xd0c; VAR=0x3; REV=1; NAME="Neoverse-N1" ;;
    *) echo "aarch64-env: EDGEKIT_QEMU_CPU=$QCPU: expected cortex-a76, cortex-a72, cortex-a57, cortex-a53 or neoverse-n1" >&2; exit 2 ;;
esac
CPUINFO="$ENV_DIR/cpuinfo-$QCPU"
if [[ ! -s "$CPUINFO" ]]; then
    FEATURES="$(QEMU_CPU="$QCPU" "$QEMU" -L "$SYSROOT" "$SYSROOT/usr/bin/python3.11" -S -c "$(cat <<'EOF'
import struct
HW = "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm jscvt fcma lrcpc dcpop sha3 sm3 sm4 asimddp sha512 sve asimdfhm dit uscat ilrcpc flagm ssbs sb paca pacg".split()
HW2 = "dcpodp sve2 sveaes svepmull svebitperm svesha3 svesm4 flagm2 frint svei8mm svef32mm svef64mm svebf16 i8mm bf16 dgh rng bti mte".split()
raw = open("/proc/self/auxv", "rb").read()
aux = dict(struct.iter_unpack("<QQ", raw))
h1, h2 = aux.get(16, 0), aux.get(26, 0)
print(" ".join([n for i, n in enumerate(HW) if h1 >> i & 1] + [n for i, n in enumerate(HW2) if h2 >> i & 1]))
EOF
)")"
    {
        for i in 0 1 2 3; do
            printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: %s\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: %s\nCPU part\t: %s\nCPU revision\t: %d\n\n' \
                "$i" "$FEATURES" "$VAR" "$PART" "$REV"
        done
    } > "$CPUINFO.tmp"
    mv "$CPUINFO.tmp" "$CPUINFO"
fi

# 4. launchers: a private mount namespace puts the ARM cpuinfo over /proc/cpuinfo, then qemu runs
# the arm64 python with only the env's site folder on its path
UNSHARE="unshare -m"; [[ $(id -u) -ne 0 ]] && UNSHARE="unshare -rm"
write_launcher() {  # name site
    local f="$ENV_DIR/bin/$1"
    cat > "$f.tmp" <<EOF
#!/bin/sh
# aarch64 python 3.11 under qemu-user ($QCPU), site: $2 (made by edgekit scripts/aarch64-env.sh)
ENV_DIR='$ENV_DIR'
export QEMU_CPU="\${EDGEKIT_QEMU_CPU:-$QCPU}"
[ -f "\$ENV_DIR/cpuinfo-\$QEMU_CPU" ] || { echo "aarch64 env: no cpuinfo for \$QEMU_CPU: run EDGEKIT_QEMU_CPU=\$QEMU_CPU scripts/aarch64-env.sh" >&2; exit 2; }
export PYTHONPATH="\$ENV_DIR/$2" PYTHONNOUSERSITE=1 EDGEKIT_QEMU_CPU="\$QEMU_CPU"
# child Pythons (edgekit's artifact probe) start through qemu too: the kernel cannot exec arm64
export EDGEKIT_PYTHON="'$QEMU' -L '\$ENV_DIR/sysroot' '\$ENV_DIR/sysroot/usr/bin/python3.11'"
unset PYTHONHOME PYTHONSTARTUP
exec $UNSHARE sh -c 'mount --bind "\$0" /proc/cpuinfo && exec "\$@"' "\$ENV_DIR/cpuinfo-\$QEMU_CPU" \\
    '$QEMU' -L "\$ENV_DIR/sysroot" "\$ENV_DIR/sysroot/usr/bin/python3.11" "\$@"
EOF
    chmod +x "$f.tmp" && mv "$f.tmp" "$f"
}

# 5. site folders: pip --target with aarch64 wheels only; edgekit from this checkout as a wheel,
# its extras resolved by pip as on a Pi
PIP_PLATFORM=(--platform manylinux_2_28_aarch64 --platform manylinux_2_27_aarch64 --platform manylinux_2_17_aarch64
              --platform manylinux2014_aarch64 --python-version 3.11 --implementation cp --abi cp311 --only-binary=:all:)
WHEELS="$ENV_DIR/wheels"
rm -rf "$WHEELS" && mkdir -p "$WHEELS"
"$HOST_PY" -m pip wheel -q --no-deps -w "$WHEELS" "$REPO" 2>&1 | grep -v "^WARNING: Location" || true
WHEEL="$(ls "$WHEELS"/edgekit-*.whl)"
make_site() {  # name extras
    local site="$ENV_DIR/$1"
    if [[ ! -d "$site" ]]; then
        rm -rf "$site.tmp"
        # (pip's "dependency conflicts" note compares with the host's own packages: not this folder)
        "$HOST_PY" -m pip install -q --target "$site.tmp" "${PIP_PLATFORM[@]}" "edgekit[$2] @ file://$WHEEL" 2>&1 \
            | grep -v "^WARNING: Location" || true
        [[ -d "$site.tmp/edgekit" ]] || { echo "aarch64-env: pip did not install edgekit[$2] for aarch64" >&2; exit 1; }
        mv "$site.tmp" "$site"
    else  # refresh edgekit itself (this checkout may have moved on); dependencies stay
        rm -rf "$site"/edgekit "$site"/edgekit-*.dist-info
        "$HOST_PY" -m pip install -q --no-deps --target "$site" "$WHEEL" 2>&1 | grep -v "already exists" || true
    fi
}
make_site lite "tflite,onnxruntime"
write_launcher python-lite lite
printf '#!/bin/sh\nexec "%s/bin/python-lite" -P -m edgekit "$@"\n' "$ENV_DIR" > "$ENV_DIR/bin/edgekit"
SITES="'lite'"
if [[ $WITH_ET == 1 ]]; then
    # executorch's and torch's requirements carry x86/CUDA-only markers that pip evaluates for this
    # host, so the runtime's own dependencies are named here and installed with --no-deps;
    # edgekit and the rest come from the lite site, after this one on the path
    if [[ ! -d "$ENV_DIR/et" ]]; then
        rm -rf "$ENV_DIR/et.tmp"
        "$HOST_PY" -m pip install -q --no-deps --target "$ENV_DIR/et.tmp" "${PIP_PLATFORM[@]}" torch==2.10.0 \
            executorch==1.2.0 numpy filelock typing-extensions sympy mpmath networkx jinja2 \
            markupsafe fsspec flatbuffers packaging pyyaml ruamel.yaml tabulate 2>&1 | grep -v "^WARNING: Location" || true
        [[ -d "$ENV_DIR/et.tmp/executorch" && -d "$ENV_DIR/et.tmp/torch" ]] \
            || { echo "aarch64-env: pip did not install torch 2.10.0 + executorch 1.2.0 for aarch64" >&2; exit 1; }
        mv "$ENV_DIR/et.tmp" "$ENV_DIR/et"
    fi
    write_launcher python-et "et:\$ENV_DIR/lite"
    SITES="'lite', 'et'"
fi
chmod +x "$ENV_DIR"/bin/*

# 6. check: the emulated process is aarch64 and sees itself emulated; record what it sees
"$ENV_DIR/bin/python-lite" -P -c "
import json, platform
from edgekit.bench.system import emulation, cpu_features
doc = {'qemu': '$QEMU', 'qemu_cpu': '$QCPU', 'machine': platform.machine(), 'python': platform.python_version(),
       'features': cpu_features(), 'emulation': emulation(), 'envs': [$SITES]}
print('aarch64-env:', doc['machine'], 'emulated' if doc['emulation']['emulated'] else 'NOT emulated', doc['features']['key'])
open('$ENV_DIR/env.json.tmp', 'w').write(json.dumps(doc, indent=1) + '\n')
"
mv "$ENV_DIR/env.json.tmp" "$ENV_DIR/env.json"
echo "aarch64-env: ready in $ENV_DIR ($QCPU; $(( $(date +%s) - t0 )) s); edgekit: $ENV_DIR/bin/edgekit"
