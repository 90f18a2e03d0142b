#!/usr/bin/env bash
# The performance table of linear2 in one run (not part of the test suite: it measures).
#   tests/bench/run.sh [BUILD_DIR]          # default build/; about 4 minutes on 2 cores, and section 6 about 4 more
# Everything on one core per process unless said (OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
# MKL_NUM_THREADS=1), every timing the best of 3 (a whole point of over 2 s: one run), all ratios
# from figures of this one run:
#   1. build/tests/symsweep_bench_kernels (tests/bench/bench_kernels.cpp): the library's point
#      loop, its parts, Eigen's GEMM rate at the same shapes, the generator's rates, whole points
#      with their default diagnostics and end-of-run checks at the benchmark's steps per point;
#   2. tests/bench/peers.py: a NumPy loop and a Numba @njit loop on the same problem
#      (python3-numba is installed when missing and we can, as cmake/bootstrap.sh installs);
#   3. perf record / perf report of `symsweep run` on online points of the two smallest and the
#      largest shape: the top 10 symbols, and symsweep's functions with their callees;
#   4. a 64-point sweep of equal-cost points at 1 rank x 1 thread, 1 x 2 threads, 2 ranks x 1
#      (symsweep's own time, the wall time with mpirun's start, and the points' own seconds);
#   5. the tables (peers.py report), with which performance targets hold;
#   6. tests/bench/bench_throughput.sh: sweep throughput (us per point of 10^5 one-step points,
#      HDF5's share), with its own table (BUILD_DIR/bench-throughput/).
# Raw figures go to BUILD_DIR/bench-kernels/ (kernels.tsv, peers.tsv, parallel.tsv, run.log).
# SYMSWEEP_BENCH_SECTIONS="3 4" runs only those sections (the tables then reuse the figures left
# there by an earlier run, whose time they do not share: for a look, not for the README).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$(realpath -m "${1:-${SYMSWEEP_BUILD_DIR:-$root/build}}")
work=$build/bench-kernels
py=/usr/bin/python3  # Debian's, with numpy (a pyenv python3 on PATH may lack it)
sections=" ${SYMSWEEP_BENCH_SECTIONS:-1 2 3 4 6} "
want() { [[ $sections == *" $1 "* ]]; }
perf_steps_large=${SYMSWEEP_BENCH_PERF_STEPS_LARGE:-200}
ncpu=$(getconf _NPROCESSORS_ONLN)  # before OMP_NUM_THREADS=1, which nproc obeys
mkdir -p "$work"
exec > >(tee "$work/run.log") 2>&1
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
start=$EPOCHREALTIME
elapsed() { awk -v a="$EPOCHREALTIME" -v b="$start" 'BEGIN { printf "%.0f", a - b }'; }
stamp() { echo "[$(elapsed) s; load average $(cut -d' ' -f1 /proc/loadavg)]"; }

# ---------------------------------------------------------------- 0. build, Numba
# Only the two targets measured here (the whole suite takes minutes to build); the log is shown
# when the build fails.
build_targets() {
  if [[ ! -f $build/CMakeCache.txt ]]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSYMSWEEP_WERROR=ON || return
  fi
  cmake --build "$build" -j "$ncpu" --target symsweep_cli symsweep_bench_kernels
}
build_targets >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
bin=$build/symsweep
kernels=$build/tests/symsweep_bench_kernels

if ! "$py" -c 'import numba' 2>/dev/null; then
  sudo=()
  can=0
  if [[ $(id -u) -eq 0 ]]; then
    can=1
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    can=1
    sudo=(sudo)
  fi
  if ((can)); then
    echo "== installing python3-numba (Debian)"
    apt_wait=(-o DPkg::Lock::Timeout=600)
    install=(env DEBIAN_FRONTEND=noninteractive apt-get "${apt_wait[@]}" install -y -qq
             --no-install-recommends python3-numba)
    ${sudo[@]+"${sudo[@]}"} "${install[@]}" >/dev/null 2>&1 ||
      { ${sudo[@]+"${sudo[@]}"} apt-get "${apt_wait[@]}" update -qq >/dev/null 2>&1 &&
        ${sudo[@]+"${sudo[@]}"} "${install[@]}" >/dev/null 2>&1; } ||
      echo "note: python3-numba could not be installed; the Numba column says so"
  else
    echo "note: python3-numba is not installed and this user cannot install it (as root:" \
      "apt-get install -y --no-install-recommends python3-numba); the Numba column says so"
  fi
fi

cache_flags=$(sed -n 's/^CMAKE_CXX_FLAGS\(_RELEASE\)\?:STRING=//p' "$build/CMakeCache.txt" | xargs)
echo "== symsweep benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $ncpu core(s)," \
  "load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
commit=$(git -C "$root" rev-parse --short HEAD)
git -C "$root" diff --quiet HEAD -- src include || commit+=", src or include modified"
portable="portable: no -march"
[[ $cache_flags == *-march* ]] && portable="NOT the portable build"
echo "build: $build ($commit), flags '$cache_flags' -ffp-contract=off ($portable)"

# ---------------------------------------------------------------- 1. kernels
if want 1; then
  echo
  echo "== 1. symsweep kernels, one core $(stamp)"
  "$kernels" --tsv "$work/kernels.tsv"
fi

# ---------------------------------------------------------------- 2. peers
if want 2; then
  echo
  echo "== 2. peers, one core $(stamp)"
  "$py" "$root/tests/bench/peers.py" measure "$work/peers.tsv"
fi

# ---------------------------------------------------------------- 3. profiles
# Online points as `symsweep run` runs them (default diagnostics and end-of-run checks), with
# DWARF call graphs: the top 10 symbols by their own time, then symsweep's functions by the time
# spent in them and their callees. The two smallest shapes run 32 points of the benchmark's 10^5
# steps (one point is 20-40 ms, shorter than the process's start); the largest one point of
# SYMSWEEP_BENCH_PERF_STEPS_LARGE steps (default 200; 2000 would take minutes).
profile_ini() {  # DX H DY S STEPS POINTS
  printf '[sweep]\nname = profile\n[model]\nname = linear2\n'
  printf 'dx = %s\nh = %s\ndy = %s\n' "$1" "$2" "$3"
  printf '[data]\nmode = online\nnoise_var = 0.1\n'
  printf '[optimizer]\neta = 0.01\nbatch = %s\nsteps = %s\n' "$4" "$5"
  printf '[axes]\nsweep.seed = range(1, %s)\n' "$(($6 + 1))"
}
top_symbols() {  # PERF_DATA: top 10 by self time; symsweep's functions by inclusive time
  perf report -i "$1" --stdio --no-children --sort symbol 2>/dev/null >"$1.self" || true
  perf report -i "$1" --stdio --children --sort symbol 2>/dev/null >"$1.children" || true
  echo "   top 10 symbols, self time:"
  grep -E '^ +[0-9.]+%' "$1.self" | head -n 10 |
    sed -E 's/^ +([0-9.]+%) +\[\.\] /   \1  /; s/^ +([0-9.]+%) +\[k\] /   \1  [kernel] /' |
    cut -c1-140 || true
  echo "   symsweep's functions, with their callees (children):"
  grep -E '^ +[0-9.]+% +[0-9.]+% +\[\.\] symsweep::' "$1.children" | head -n 12 |
    sed -E 's/^ +([0-9.]+%) +([0-9.]+%) +\[\.\] /   \1 (self \2)  /' | cut -c1-140 || true
}
if want 3; then
  echo
  echo "== 3. where the time goes: perf record of \`symsweep run\`, online points $(stamp)"
  if command -v perf >/dev/null &&
    perf record -q -o "$work/probe.data" -- true >/dev/null 2>&1; then
    for shape in "1 1 1 1 100000 32 1999" "3 2 2 1 100000 32 1999" \
      "256 256 256 128 $perf_steps_large 1 49"; do
      read -r dx h dy s steps points freq <<<"$shape"
      tag=${dx}x${h}x${dy}x${s}
      profile_ini "$dx" "$h" "$dy" "$s" "$steps" "$points" >"$work/profile_$tag.ini"
      line=$(perf record -q -F "$freq" --call-graph dwarf,16384 -o "$work/perf_$tag.data" -- \
        "$bin" run "$work/profile_$tag.ini" -o "$work/profile_$tag.h5" --overwrite 2>&1 |
        tail -n 1)
      echo "-- ($dx,$h,$dy) S=$s online, $points point(s) of $steps steps: ${line#done: }"
      top_symbols "$work/perf_$tag.data"
    done
  else
    echo "perf is absent (or not permitted here): no profile"
  fi
fi

# ---------------------------------------------------------------- 4. parallel efficiency
# 64 points of equal cost: one shape, seeds 0..63, no convergence stop, default end-of-run checks.
if want 4; then
  echo
  echo "== 4. parallel efficiency: a 64-point sweep of equal-cost points $(stamp)"
  par_ini=$work/parallel.ini
  {
    printf '[sweep]\nname = parallel\n[model]\nname = linear2\ndx = 10\nh = 10\ndy = 10\n'
    printf '[data]\nmode = online\nnoise_var = 0.1\n'
    printf '[optimizer]\neta = 0.01\nbatch = 16\nsteps = 5000\ntol = 0\n'
    printf '[axes]\nsweep.seed = range(0, 64)\n'
  } >"$par_ini"
  mpi=(mpirun -q --oversubscribe)
  [[ $(id -u) -eq 0 ]] && mpi+=(--allow-run-as-root)
  # The layouts take turns, three rounds, so that a busy spell of a neighbour falls on all of them
  # alike; the best of its three runs is each layout's time.
  declare -A best_s best_w best_in
  sum_seconds="import h5py, sys; print(h5py.File(sys.argv[1], 'r')['/run/seconds'][()].sum())"
  for rep in 1 2 3; do
    for layout in 1x1 1x2 2x1; do
      ranks=${layout%x*} threads=${layout#*x}
      # -np 1 binds the rank to one core: its two threads need --bind-to none. Two ranks keep
      # Open MPI's default, one core each.
      bind=()
      ((threads > 1)) && bind=(--bind-to none)
      t0=$EPOCHREALTIME
      lines=$(OMP_NUM_THREADS=$threads "${mpi[@]}" -np "$ranks" ${bind[@]+"${bind[@]}"} "$bin" \
        run "$par_ini" -o "$work/parallel.h5" --overwrite 2>&1 | tail -n 2)
      line=$(tail -n 1 <<<"$lines")
      wall=$(awk -v a="$EPOCHREALTIME" -v b="$t0" 'BEGIN { printf "%.3f", a - b }')
      secs=$(sed -nE 's/.* in ([0-9.]+) s;.*/\1/p' <<<"$line")
      [[ -n $secs ]] || { echo "unexpected output: $line" >&2; exit 1; }
      # The points' own wall times (/run/seconds), summed: their share of workers x run time
      # says how much of the run the workers spent inside points (the rest: start, scheduling,
      # checkpoints, the end), whatever the machine's speed at the moment.
      inside=$("$py" -c "$sum_seconds" "$work/parallel.h5")
      echo "   $ranks rank(s) x $threads thread(s), round $rep: symsweep $secs s, wall $wall s," \
        "points $(printf '%.2f' "$inside") s inside"
      # symsweep's own account: HDF5, the seconds before the points and after them (fixed costs
      # of a rank), the workers' share inside points.
      echo "      $(head -n 1 <<<"$lines" | sed -E 's/ \(the slowest.*//')"
      if awk -v a="${best_s[$layout]:-1e300}" -v b="$secs" 'BEGIN { exit !(b < a) }'; then
        best_in[$layout]=$inside
      fi
      best_s[$layout]=$(awk -v a="${best_s[$layout]:-1e300}" -v b="$secs" \
        'BEGIN { print (b < a ? b : a) }')
      best_w[$layout]=$(awk -v a="${best_w[$layout]:-1e300}" -v b="$wall" \
        'BEGIN { print (b < a ? b : a) }')
    done
  done
  {
    echo -e "sweep\tlinear2 (10,10,10) S=16 online, 5000 steps, tol = 0, 64 seeds"
    for layout in 1x1 1x2 2x1; do
      echo -e "$layout.symsweep_s\t${best_s[$layout]}"
      echo -e "$layout.wall_s\t${best_w[$layout]}"
      echo -e "$layout.inside_s\t${best_in[$layout]}"
    done
  } >"$work/parallel.tsv"
fi

# ---------------------------------------------------------------- 6. sweep throughput
if want 6; then
  echo
  echo "== 6. sweep throughput $(stamp)"
  "$root/tests/bench/bench_throughput.sh" "$build"
fi

# ---------------------------------------------------------------- 5. the tables
echo
echo "== 5. tables $(stamp)"
"$py" "$root/tests/bench/peers.py" report "$work/kernels.tsv" "$work/peers.tsv" "$work/parallel.tsv"
echo "run.sh took $(elapsed) s; raw figures in $work"
