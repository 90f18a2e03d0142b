#!/usr/bin/env bash
# Strong scaling on a node with more cores than this one (the 16-core machine some sessions are
# lent; see the team's toolchain notes): 256 equal-cost points (linear2 10x10x10, S = 16, 10^4
# steps) at 1, 2, 4, 8, 16 MPI ranks x 1 thread and at 1 rank x 2, 4, 8, 16 OpenMP threads. That
# node is not Debian 12 (Open MPI 4.1 of its own, no parallel HDF5, no Boost.Program_options), so
# the driver built here travels with the Debian libraries it needs:
#   tests/bench/device_scaling.sh --pack [BUILD_DIR]   # makes build-device/ (about 6 MB; ignored by git)
#   build-device/scaling.sh                            # on the node (NPS, THREADS: other counts; empty: none)
# Each line printed gives the wall time with mpirun's start and symsweep's own "done:" line, whose
# time is the sweep's; the speed-up is the 1-rank time over the N-rank time.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [[ ${1:-} != --pack ]]; then
  echo "usage: $0 --pack [BUILD_DIR]   (then run build-device/scaling.sh on the node)" >&2
  exit 2
fi
build=${2:-$root/build}
out=$root/build-device
rm -rf "$out" && mkdir -p "$out/bin" "$out/lib"
cp "$build/symsweep" "$out/bin/"
# The Debian libraries the node lacks; Open MPI, libstdc++ and glibc are the node's own (same ABI).
for lib in libboost_program_options.so.1.74.0 libhdf5_openmpi.so.103 libhdf5_openmpi_hl.so.100 \
  libsz.so.2 libaec.so.0; do
  cp -L "/lib/x86_64-linux-gnu/$lib" "$out/lib/"
done
cat >"$out/scaling.ini" <<'INI'
[sweep]
name = scaling
[model]
name = linear2
dx = 10
h = 10
dy = 10
[data]
n = 256
noise_var = 0.1
[optimizer]
eta = 0.01
batch = 16
steps = 10000
tol = 0
[record]
every = 1000
[axes]
sweep.seed = range(0, 256)
INI
cat >"$out/scaling.sh" <<'SH'
#!/bin/bash
d=$(cd "$(dirname "$0")" && pwd)
export LD_LIBRARY_PATH=$d/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
bin=$d/bin/symsweep
nproc
lscpu | grep -E "Model name|^CPU\(s\)|Thread|Socket" || true
mpirun --version | head -1
if ldd "$bin" | grep "not found"; then exit 1; fi
flags=(--allow-run-as-root --oversubscribe -q)
run() { # label ranks threads binding
  local t0 t1 line
  t0=$(date +%s.%N)
  line=$(OMP_NUM_THREADS=$3 mpirun -np "$2" "${flags[@]}" --bind-to "$4" -x OMP_NUM_THREADS \
    -x LD_LIBRARY_PATH "$bin" run "$d/scaling.ini" -o "/tmp/scaling_$1.h5" --overwrite 2>&1 |
    grep -E "^done:")
  t1=$(date +%s.%N)
  echo "$1 ranks=$2 threads=$3 wall $(echo "$t1 - $t0" | bc) s :: $line"
}
for np in ${NPS-1 2 4 8 16}; do run "ranks$np" "$np" 1 core:overload-allowed; done
for t in ${THREADS-2 4 8 16}; do run "threads$t" 1 "$t" none; done
SH
chmod +x "$out/scaling.sh"
echo "packed $out ($(du -sh "$out" | cut -f1)); on the node: build-device/scaling.sh"
