#!/usr/bin/env bash
# Packs what the origin needs on a linux-x64 GPU machine that has no Node, no npm and no network
# into .gpu/ at the repository root (ignored by git):
#   node.xz           the project's Node 24 binary (the `node` devDependency)
#   ort-node.tar.xz   onnxruntime-node for linux-x64 only (cpu and webgpu execution providers)
#   *.deb             the Vulkan loader and glvnd libraries (Debian amd64), which the webgpu
#                     provider (Dawn on Vulkan) needs and minimal GPU images often lack
#   env.sh            `source .gpu/env.sh` on the GPU machine: unpacks the above and sets PATH,
#                     NODE_PATH and VK_DRIVER_FILES
# Run it from a checkout after `npm ci`, on a Debian or Ubuntu machine with network (the .debs
# come from `apt-get download`). Then `npm run gpu-kit` and copy the checkout (at least .gpu/,
# dist/gpu/ and scripts/gpu/) to the GPU machine; see docs/gpu.md.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
mkdir -p .gpu

# Node: the project's own Node 24, which must be a linux-x64 build to run on the GPU machine.
node_bin=node_modules/node/bin/node
[ -x "$node_bin" ] || { echo "pack.sh: $node_bin is missing: run npm ci first" >&2; exit 1; }
node_version=$("$node_bin" --version)
node_platform=$("$node_bin" -p 'process.platform + "-" + process.arch')
[ "$node_platform" = linux-x64 ] || { echo "pack.sh: $node_bin is a $node_platform build; the GPU kit needs linux-x64" >&2; exit 1; }
if [ ! -s .gpu/node.xz ] || [ "$(cat .gpu/node.version 2>/dev/null)" != "$node_version" ]; then
  echo "packing node $node_version"
  xz -T0 -6 -c "$node_bin" > .gpu/node.xz.tmp && mv .gpu/node.xz.tmp .gpu/node.xz
  echo "$node_version" > .gpu/node.version
fi

# onnxruntime-node and onnxruntime-common, without the other platforms' binaries and the sources.
[ -d node_modules/onnxruntime-node/bin/napi-v6/linux/x64 ] || { echo "pack.sh: onnxruntime-node is missing: run npm ci first" >&2; exit 1; }
ort_version=$(node_modules/node/bin/node -p 'require("./node_modules/onnxruntime-node/package.json").version')
echo "packing onnxruntime-node $ort_version (linux-x64)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/node_modules"
cp -r node_modules/onnxruntime-node node_modules/onnxruntime-common "$tmp/node_modules/"
rm -rf "$tmp"/node_modules/onnxruntime-node/bin/napi-v6/{darwin,win32,linux/arm64} \
       "$tmp"/node_modules/onnxruntime-node/{lib,script}
tar cJf .gpu/ort-node.tar.xz -C "$tmp" node_modules

# The Vulkan loader and glvnd, amd64, from this machine's Debian/Ubuntu archive. A separate list
# directory lets an arm64 machine fetch amd64 packages too, and leaves the system's lists alone.
if ! ls .gpu/*.deb >/dev/null 2>&1; then
  if command -v apt-get >/dev/null; then
    lists="${TMPDIR:-/tmp}/hotpath-apt-amd64"
    mkdir -p "$lists/partial"
    apt_opts=(-o APT::Architecture=amd64 -o APT::Architectures=amd64 -o "Dir::State::Lists=$lists")
    echo "downloading the Vulkan and glvnd packages (amd64)"
    apt-get "${apt_opts[@]}" update -qq
    (cd .gpu && apt-get "${apt_opts[@]}" download -qq libvulkan1 libglvnd0 libegl1 libopengl0 libgl1 libglx0 libgles2)
  else
    echo "pack.sh: no apt-get here: .gpu/ has no Vulkan libraries; the GPU machine must have libvulkan1 and libglvnd installed" >&2
  fi
fi

cat > .gpu/env.sh <<'ENV'
# Source this on the GPU machine, from anywhere: `source .gpu/env.sh`. Written by scripts/gpu/pack.sh.
# Puts Node 24 on PATH and onnxruntime-node where the bundles in dist/gpu/ find it, installs the
# Vulkan loader when the machine has none, and points Vulkan at NVIDIA's driver.
gpu_kit=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
gpu_unpacked=${HOTPATH_GPU_DIR:-/tmp/hotpath-gpu}
mkdir -p "$gpu_unpacked/node" "$gpu_unpacked/ort"

# The Vulkan loader: only when the system lacks one. As root the .debs go into / (what was
# measured); otherwise into a private folder on LD_LIBRARY_PATH.
if ls "$gpu_kit"/*.deb >/dev/null 2>&1 &&
   ! { ldconfig -p || /sbin/ldconfig -p; } 2>/dev/null | grep 'libvulkan\.so\.1 ' >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    for gpu_deb in "$gpu_kit"/*.deb; do dpkg -x "$gpu_deb" /; done
    ldconfig
  else
    for gpu_deb in "$gpu_kit"/*.deb; do dpkg -x "$gpu_deb" "$gpu_unpacked/libs"; done
    export LD_LIBRARY_PATH="$gpu_unpacked/libs/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  fi
fi

if [ ! -x "$gpu_unpacked/node/node" ] || [ "$("$gpu_unpacked/node/node" --version)" != "$(cat "$gpu_kit/node.version")" ]; then
  xz -dc "$gpu_kit/node.xz" > "$gpu_unpacked/node/node.tmp" && chmod +x "$gpu_unpacked/node/node.tmp"
  mv "$gpu_unpacked/node/node.tmp" "$gpu_unpacked/node/node"
fi
[ -d "$gpu_unpacked/ort/node_modules/onnxruntime-node" ] || tar xJf "$gpu_kit/ort-node.tar.xz" -C "$gpu_unpacked/ort"

# NODE_PATH serves require(); ES module imports (the dist/gpu bundles) resolve through the
# repository's node_modules, so link the packages there unless npm ci already put them there.
mkdir -p "$gpu_kit/../node_modules"
for gpu_pkg in onnxruntime-node onnxruntime-common; do
  [ -e "$gpu_kit/../node_modules/$gpu_pkg" ] || ln -s "$gpu_unpacked/ort/node_modules/$gpu_pkg" "$gpu_kit/../node_modules/$gpu_pkg"
done
export PATH="$gpu_unpacked/node:$PATH" NODE_PATH="$gpu_unpacked/ort/node_modules"

# Vulkan finds NVIDIA's driver through its ICD file; keep VK_DRIVER_FILES if it is set already.
if [ -z "${VK_DRIVER_FILES:-}" ]; then
  for gpu_icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json \
                 /etc/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.x86_64.json; do
    if [ -f "$gpu_icd" ]; then export VK_DRIVER_FILES="$gpu_icd"; break; fi
  done
  [ -n "${VK_DRIVER_FILES:-}" ] || echo "env.sh: no nvidia_icd.json found: set VK_DRIVER_FILES to NVIDIA's Vulkan ICD file, or the origin runs on cpu" >&2
fi
unset gpu_kit gpu_unpacked gpu_deb gpu_pkg gpu_icd
ENV

du -sh .gpu
ls -l .gpu
