#!/usr/bin/env bash
# Makes this checkout ready to run: installs the Debian 12 packages symsweep needs (as root, or
# with passwordless sudo; otherwise prints the exact apt-get line and stops), then configures and
# builds into build/ (SYMSWEEP_BUILD_DIR to change). Safe to run again: it only does what is missing.
#
#   cmake/bootstrap.sh                       # used by jobs/run-local.sh and tests/run.sh
#   SYMSWEEP_CMAKE_ARGS="-DCMAKE_BUILD_TYPE=Debug" cmake/bootstrap.sh
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${SYMSWEEP_BUILD_DIR:-$root/build}

packages=(
  cmake make g++ git
  libopenmpi-dev openmpi-bin
  libhdf5-openmpi-dev hdf5-tools
  libeigen3-dev libboost-program-options-dev librandom123-dev
  libgtest-dev googletest
  python3-h5py python3-numpy python3-matplotlib python3-pytest python3-xarray python3-h5netcdf
  python3-scipy
)

# Optional packages (SYMSWEEP_OPTIONAL_PACKAGES, e.g. a test SLURM): installed when we can, else
# only reported; what needs them is skipped.
read -r -a optional <<<"${SYMSWEEP_OPTIONAL_PACKAGES:-}"

not_installed() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}
mapfile -t missing < <(not_installed "${packages[@]}")
mapfile -t missing_optional < <(not_installed "${optional[@]}")

# Another apt (unattended upgrades on a fresh machine) holds its locks: wait for it, up to 10
# minutes, instead of failing with "Could not get lock".
apt_wait=(-o DPkg::Lock::Timeout=600)
can_install=0
updated=0
sudo=()
if [[ $(id -u) -eq 0 ]]; then
  can_install=1
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  can_install=1
  sudo=(sudo)
fi
if ((${#missing[@]} > 0)); then
  if ((!can_install)); then
    echo "symsweep needs these Debian packages, which are not installed:" >&2
    echo "  ${missing[*]}" >&2
    echo "Install them (as root) with:" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
  echo "== installing ${#missing[@]} Debian package(s): ${missing[*]}"
  ${sudo[@]+"${sudo[@]}"} apt-get "${apt_wait[@]}" update -qq
  updated=1
  ${sudo[@]+"${sudo[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get "${apt_wait[@]}" install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null
fi

if ((${#missing_optional[@]} > 0)); then
  skipped="note: not installed, so what needs them is skipped: ${missing_optional[*]}"
  if ((can_install)); then
    echo "== installing ${#missing_optional[@]} optional package(s): ${missing_optional[*]}"
    { ((updated)) || ${sudo[@]+"${sudo[@]}"} apt-get "${apt_wait[@]}" update -qq; } &&
      ${sudo[@]+"${sudo[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get "${apt_wait[@]}" install \
        -y -qq --no-install-recommends "${missing_optional[@]}" >/dev/null || echo "$skipped" >&2
  else
    echo "$skipped" >&2
  fi
fi

echo "== configuring and building in $build"
# Warnings are errors in symsweep's own code, for run-local.sh and tests/run.sh alike, so the two
# share one build. A unity build (CMake compiles the sources of a target in batches of 8): a
# fresh build takes a quarter less CPU time, since each batch parses Eigen and GoogleTest once;
# for a quick edit-and-rebuild loop (one file recompiles its whole batch), pass
# SYMSWEEP_CMAKE_ARGS=-DCMAKE_UNITY_BUILD=OFF or configure a build directory of your own.
# shellcheck disable=SC2086  # SYMSWEEP_CMAKE_ARGS is a list of words on purpose
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE="${SYMSWEEP_BUILD_TYPE:-Release}" \
  -DSYMSWEEP_WERROR=ON -DCMAKE_UNITY_BUILD=ON ${SYMSWEEP_CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j "$(nproc)"
