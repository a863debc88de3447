using Mmrag.Benchmarks.Clip;

// Benchmark commands print tables; each compares with the reference measured in the same run where one exists.
return args.FirstOrDefault() switch
{
    "clip" => await ClipThroughputBenchmark.RunAsync(args[1..]).ConfigureAwait(false),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: dotnet run -c Release --project benchmarks/Mmrag.Benchmarks -- clip [--model DIR] [--threads 2] [--seconds 6] [--reference] [--spin]");
    return 2;
}
