#!/usr/bin/env bash
# The device benchmark on a GPU host without network: the source tree plus
# .device/ (made here by `npm run bench:prepare-device`, ≤ 64 MiB together).
#
#   bench/device.sh [--software] [--out FILE] [bench options…]
#
# Unpacks .device/app.tar.xz (compiled bench and libs, pruned production
# node_modules) into $UAE_DEVICE_WORK (default ${TMPDIR:-/tmp}/uae-device),
# uses Node ≥ 20 from PATH or else the carried binary, offers the carried
# Vulkan loader when the host has none and the NVIDIA Vulkan driver when the
# host's NVIDIA mount has one, then runs `bench/run.ts --backend webgpu`
# (UAE_BACKEND overrides) on the bundled Fashion-MNIST slice and writes JSON
# (default bench/results/device.json) and a table: conv-AE attack, B = 1, 8,
# 32, 64, 128 samples per chunk; samples/s, s/sample, GFLOPS, GPU memory; the
# device's matMul GFLOPS; the adapter.
#
# --software runs on Mesa's lavapipe (`npm run setup:webgpu` first), the CPU
# Vulkan driver CI uses: the same path end to end, far slower — pass e.g.
# `--batches 1,8 --iterations 1 --mine-steps 2` there.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
payload="$root/.device"
work="${UAE_DEVICE_WORK:-${TMPDIR:-/tmp}/uae-device}"
out="bench/results/device.json"
software=0
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --software) software=1 ;;
    --out) out="${2:?--out needs a file}"; shift ;;
    *) args+=("$1") ;;
  esac
  shift
done

die() { echo "device.sh: $*" >&2; exit 1; }
[ -f "$payload/manifest.json" ] || die "no $payload/manifest.json: run npm run bench:prepare-device where npm works, and carry .device/ with the tree"

started=$(date +%s)
rm -rf "$work"
mkdir -p "$work"
tar -C "$work" -xJf "$payload/app.tar.xz"

node_bin=""
if command -v node >/dev/null 2>&1 && [ "$(node -p 'process.versions.node.split(".")[0]')" -ge 20 ]; then
  node_bin="$(command -v node)"
elif [ -f "$payload/node.xz" ]; then
  xz -dc "$payload/node.xz" > "$work/node"
  chmod +x "$work/node"
  node_bin="$work/node"
else
  die "no Node ≥ 20 on PATH and no .device/node.xz (prepare without --no-node)"
fi

# The payload's size as the manifest recorded it, and what this host offers.
"$node_bin" -e '
  const m = require(process.argv[1]);
  const mib = (b) => (b / 2 ** 20).toFixed(1) + " MiB";
  console.log(`payload: ${mib(m.bytes.payload)} prepared + ${mib(m.bytes.working_tree)} working tree = ${mib(m.bytes.total)} (limit ${mib(m.bytes.limit)}); commit ${m.commit.slice(0, 10)}`);
' "$payload/manifest.json"
echo "node: $node_bin ($("$node_bin" --version))"

if [ "$software" = 1 ]; then
  [ -f "$root/.cache/lavapipe/env.sh" ] || die "--software needs npm run setup:webgpu first"
  # shellcheck disable=SC1091
  . "$root/.cache/lavapipe/env.sh"
else
  if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
    export LD_LIBRARY_PATH="$payload/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    echo "vulkan: the carried loader ($payload/lib/libvulkan.so.1)"
  fi
  if [ -z "${VK_ICD_FILENAMES:-}${VK_DRIVER_FILES:-}" ]; then
    for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
      if [ -f "$icd" ]; then export VK_DRIVER_FILES="$icd"; echo "vulkan: driver $icd"; break; fi
    done
  fi
  # Dawn prints a harmless error without it.
  if [ -z "${XDG_RUNTIME_DIR:-}" ]; then export XDG_RUNTIME_DIR="$work/xdg"; mkdir -p "$XDG_RUNTIME_DIR"; chmod 700 "$XDG_RUNTIME_DIR"; fi
fi

cd "$root"
mkdir -p "$(dirname "$out")"
"$node_bin" "$work/app/dist/bench/run.js" --backend "${UAE_BACKEND:-webgpu}" \
  --data-dir "$root/tests/fixtures/fashion-mnist-slice" --out "$out" ${args[@]+"${args[@]}"}
echo "device.sh: $(( $(date +%s) - started )) s in all"
