namespace Mmrag.Benchmarks;

/// <summary>Minimal <c>--name value</c> / <c>--flag</c> parsing for the benchmark commands.</summary>
internal sealed class BenchOptions
{
    private readonly string[] _args;

    private BenchOptions(string[] args) => _args = args;

    public static BenchOptions Parse(string[] args) => new(args);

    public string? Get(string name)
    {
        var index = Array.IndexOf(_args, name);
        return index >= 0 && index + 1 < _args.Length ? _args[index + 1] : null;
    }

    public bool Has(string name) => Array.IndexOf(_args, name) >= 0;
}
