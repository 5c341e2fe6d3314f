#!/usr/bin/env bash
# vknmt's two commands on a fresh Debian 12 machine:
#   ./vknmt.sh demo   the main job (installs what is missing, builds, runs)
#   ./vknmt.sh test   builds and runs the test suite
# Environment: BUILD_DIR (default build), SANITIZE=1 for an ASan+UBSan build,
# WERROR=1 to build with -Werror.
set -euo pipefail
cd "$(dirname "$0")"

BUILD_DIR=${BUILD_DIR:-build}
PACKAGES="cmake gcc make pkg-config libvulkan-dev libvulkan-volk-dev glslang-tools spirv-tools
mesa-vulkan-drivers vulkan-validationlayers libopenblas-dev libcjson-dev libcairo2-dev libutf8proc-dev
fonts-dejavu-core"

deps() {
    local missing=()
    for p in $PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "vknmt: installing ${missing[*]}" >&2
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

build() {
    deps
    cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release \
        -DVKNMT_WERROR="${WERROR:-OFF}" -DVKNMT_SANITIZE="${SANITIZE:-OFF}" >/dev/null
    cmake --build "$BUILD_DIR" -j "$(nproc)"
}

case "${1:-}" in
test)
    build
    ctest --test-dir "$BUILD_DIR" --output-on-failure
    ;;
demo)
    build
    "$BUILD_DIR/vknmt" devices
    echo
    echo "GEMM on the chosen device beside OpenBLAS (vknmt bench gemm):"
    "$BUILD_DIR/vknmt" bench gemm
    ;;
build)
    build
    ;;
*)
    echo "usage: $0 demo|test|build" >&2
    exit 2
    ;;
esac
