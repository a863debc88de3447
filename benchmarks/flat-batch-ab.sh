#!/usr/bin/env bash
# Many queries at once, A/B interleaved on a shared machine: faiss IndexFlatIP.search (the batch figure of
# shared/bench/bench_vec.py --index flat, without its minutes of single-query timing) and mmrag's
# ExactVectorIndex.SearchBatch, one after the other, ROUNDS times, 1000 queries x 100k x 512, 1 and 2 threads.
# Ratios are only meaningful within a round; the spread across rounds says how noisy the machine was. QPS per
# CPU-second (process CPU time) is steadier than wall-clock QPS when other work shares the cores.
#   benchmarks/flat-batch-ab.sh [ROUNDS=3] [N=100k]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
n=${2:-100k}
export MMRAG_BENCH_DIR=${MMRAG_BENCH_DIR:-/tmp/mmrag-bench}
W=$MMRAG_BENCH_DIR
export LD_LIBRARY_PATH=$W/vendor/openblas-omp/usr/lib/x86_64-linux-gnu/openblas-openmp
[ -f "$W/data/base_$n.fvecs" ] || (cd ../shared/bench && /usr/bin/python3 gen_data.py --n "$([ "$n" = 1m ] && echo 1000000 || echo 100000)")
dotnet build -c Release benchmarks/Mmrag.Benchmarks -v q -nologo >/dev/null
for r in $(seq "$rounds"); do
  echo "# round $r (load $(cut -d' ' -f1-3 /proc/loadavg))"
  /usr/bin/python3 - "$W/data" "$n" <<'PY'
import sys, time, numpy as np, faiss
sys.path.insert(0, "../shared/bench")
from common import fvecs
base = fvecs(f"{sys.argv[1]}/base_{sys.argv[2]}.fvecs"); q = fvecs(f"{sys.argv[1]}/query_1k.fvecs")
ix = faiss.IndexFlatIP(base.shape[1]); ix.add(base)
for t in (1, 2):
    faiss.omp_set_num_threads(t); ix.search(q, 10); qps = []; cpu = []
    for _ in range(5):
        s, c = time.perf_counter(), time.process_time(); ix.search(q, 10)
        qps.append(len(q) / (time.perf_counter() - s)); cpu.append(len(q) / (time.process_time() - c))
    print(f"faiss {faiss.__version__} IndexFlatIP batch {t}t: {np.median(qps):.0f} QPS [{min(qps):.0f}-{max(qps):.0f}], {np.median(cpu):.0f} QPS/CPU-s", flush=True)
PY
  dotnet run -c Release --no-build --project benchmarks/Mmrag.Benchmarks -- vector-index --n "$n" --batch-only --reps 5 | grep "SearchBatch [12]t"
done
