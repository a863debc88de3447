namespace Mmrag.Storage.Postgres.Tests;

/// <summary>
/// A fact that needs the test PostgreSQL server. It is skipped, with the reason, when no server can be had on this
/// machine (no <c>MMRAG_TEST_PG</c>, no <c>node</c>/<c>npm</c> on PATH) — except under <c>CI=true</c>, where it runs and
/// fails (the pattern of Npgsql's <c>IgnoreExceptOnBuildServer</c>). xUnit 2 has no dynamic skip, so the check is
/// made when tests are discovered, from what is installed.
/// </summary>
/// <remarks>
/// The contract tests inherit plain <c>[Fact]</c>s from the shared suite and cannot be skipped this way: without a
/// server they fail with the fixture's message saying what to install.
/// </remarks>
public sealed class PostgresFactAttribute : FactAttribute
{
    public PostgresFactAttribute()
    {
        if (UnavailableReason is { } reason && !string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Skip = reason;
        }
    }

    /// <summary>Why no test server can be had here, or null when one can.</summary>
    public static string? UnavailableReason { get; } = FindReason();

    private static string? FindReason()
    {
        if (!string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable("MMRAG_TEST_PG")))
        {
            return null;
        }

        string[] path = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);
        bool OnPath(string name) => path.Any(folder => File.Exists(Path.Combine(folder, name)));
        return OnPath("node") && OnPath("npm")
            ? null
            : "No PostgreSQL for the tests: set MMRAG_TEST_PG to a PostgreSQL with pgvector, or install Node.js 20+ with npm so that PGlite can be started.";
    }
}
