#!/usr/bin/env bash
# Runs every mmrag benchmark beside its reference from ../shared/bench, one after another (never two at once: 2 cores),
# and prints the tables. Data, models and results go to $MMRAG_BENCH_DIR (default /tmp/mmrag-bench), never into git.
#   benchmarks/run-all.sh [clip] [vector] [e2e] [backends]     (default: all four)
# backends runs PostgreSQL on $MMRAG_PG when set, else on PGlite (WebAssembly, one thread: ~35 min at 100k on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
bench=$(cd ../shared/bench && pwd)
export MMRAG_BENCH_DIR=${MMRAG_BENCH_DIR:-/tmp/mmrag-bench}
W=$MMRAG_BENCH_DIR
blas=$W/vendor/openblas-omp/usr/lib/x86_64-linux-gnu/openblas-openmp
parts=${*:-clip vector e2e backends}

[ -d "$W/models/vit-b-32-random/onnx" ] || bash "$bench/make-random-clip.sh"
[ -f "$W/data/base_100k.fvecs" ] || LD_LIBRARY_PATH=$blas /usr/bin/python3 "$bench/gen_data.py" --n 1000000
dotnet build -c Release benchmarks/Mmrag.Benchmarks -v q -nologo >/dev/null
run() { dotnet run -c Release --no-build --project benchmarks/Mmrag.Benchmarks -- "$@"; }

for part in $parts; do
  case $part in
    clip)
      # PyTorch eager fp32 and the machine's GEMM limit are measured by the command itself (--reference).
      run clip --reference --seconds 6
      run clip --seconds 6 --spin
      # JPEG → vector at 1024x768 and 4000x3000, exact and --fast-decode, beside the model-only rate (3 repeats).
      run clip --jpeg-only --seconds 6 --repeat 3 ;;
    vector)
      mkdir -p "$W/results"
      LD_LIBRARY_PATH=$blas /usr/bin/python3 "$bench/bench_flat_blas.py" --n 100k
      LD_LIBRARY_PATH=$blas /usr/bin/python3 "$bench/bench_vec.py" --lib faiss --index flat --n 100k
      bash "$bench/run-native-hnswlib.sh" 16 200 2 > "$W/results/native_hnswlib_M16_100k.json"
      run vector-index --n 100k --M 16 --efc 200 --threads 2 ;;
    e2e)
      # The ingest rows also run `mmrag ingest` itself (the Release build of src/Mmrag.Cli) under /usr/bin/time.
      dotnet build -c Release src/Mmrag.Cli -v q -nologo >/dev/null
      run e2e --images 200 --items 100000 --queries 200 ;;
    backends)
      run backends --items 100000 --queries 200 ;;
  esac
done
