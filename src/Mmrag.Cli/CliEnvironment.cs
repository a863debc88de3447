namespace Mmrag.Cli;

/// <summary>
/// Where the commands read environment variables. The process environment is shared by every command running in the
/// process; an override set here holds only for the current async flow, so commands run side by side in one process
/// (the in-process CLI tests) each see their own <c>MMRAG_LLM_*</c> settings and never another's.
/// </summary>
internal static class CliEnvironment
{
    private static readonly AsyncLocal<IReadOnlyDictionary<string, string?>?> Overrides = new();

    /// <summary>The variable's value: this flow's override when it names the variable (null there means unset), else the process's.</summary>
    public static string? Get(string name) =>
        Overrides.Value is { } values && values.TryGetValue(name, out var value) ? value : Environment.GetEnvironmentVariable(name);

    /// <summary>
    /// Sets <paramref name="values"/> over the process environment for the calling flow and the work it starts. Called
    /// from a synchronous method, the override stays in force in the caller until replaced; an async caller's override
    /// ends when it returns.
    /// </summary>
    public static void Override(IReadOnlyDictionary<string, string?>? values) => Overrides.Value = values;
}
