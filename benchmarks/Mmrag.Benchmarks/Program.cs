using Mmrag.Benchmarks.Backends;
using Mmrag.Benchmarks.Clip;
using Mmrag.Benchmarks.EndToEnd;
using Mmrag.Benchmarks.VectorIndex;

// Benchmark commands print tables; each compares with the reference measured in the same run where one exists.
return args.FirstOrDefault() switch
{
    "clip" => await ClipThroughputBenchmark.RunAsync(args[1..]).ConfigureAwait(false),
    "vector-index" => VectorIndexBenchmark.Run(args[1..]),
    "e2e" => await EndToEndBenchmark.RunAsync(args[1..]).ConfigureAwait(false),
    "backends" => await BackendsBenchmark.RunAsync(args[1..]).ConfigureAwait(false),
    "scale" => await ScaleBenchmark.RunAsync(args[1..]).ConfigureAwait(false),
    "idle-decode" => IdleDecodeExperiment.Run(args[1..]),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("""
        usage: dotnet run -c Release --project benchmarks/Mmrag.Benchmarks -- COMMAND [options]
          clip [--model DIR] [--threads 2] [--seconds 6] [--reference] [--spin] [--latency-only] [--gemm-only]
               [--jpeg-only [--jpeg-sizes 1024x768,4000x3000] [--jpegs 64] [--repeat 3]]
          e2e [--model DIR] [--images 200] [--items 100000] [--queries 200] [--keyword-budget 1000] [--keyword-recall] [--memory-map BYTES] [--queries-only] [--spin]
              [--ingest-only] [--cli PATH]
          idle-decode [--model DIR] [--seconds 6] [--modes none,idle,nice19,normal,none]
          vector-index [--n 100k|1m] [--M 16] [--efc 200] [--efs 16,32,64,128,256] [--threads 2] [--reps 3]
          scale [--items 1000000] [--base 1m] [--threads 2] [--opens 3] [--queries 1000] [--keep] [--open-only]
          backends [--items 100000] [--dim 512] [--queries 200] [--batch 1000] [--k 10] [--backend embedded|postgres|both]
                   [--connection CONNSTRING] [--ef N[,N...]] [--M N] [--efc N]   (backends --help for more)
        """);
    return 2;
}
