using Xunit.Abstractions;
using Xunit.Sdk;

[assembly: TestFramework("Mmrag.Storage.Postgres.Tests.PostgresTestFramework", "Mmrag.Storage.Postgres.Tests")]

namespace Mmrag.Storage.Postgres.Tests;

/// <summary>
/// Every test in this assembly needs the test PostgreSQL server. When none can be had on this machine
/// (<see cref="PostgresServerAvailability.UnavailableReason"/>), every test is reported skipped with the reason —
/// except under <c>CI=true</c>, where they run and fail (the pattern of Npgsql's <c>IgnoreExceptOnBuildServer</c>).
/// xUnit 2 has no dynamic skip, and the contract tests inherit plain Fact attributes from the shared suite, so the skip
/// is decided here, at discovery.
/// </summary>
public sealed class PostgresTestFramework(IMessageSink messageSink) : XunitTestFramework(messageSink)
{
    protected override ITestFrameworkDiscoverer CreateDiscoverer(IAssemblyInfo assemblyInfo) =>
        new Discoverer(assemblyInfo, SourceInformationProvider, DiagnosticMessageSink);

    private sealed class Discoverer(IAssemblyInfo assemblyInfo, ISourceInformationProvider sourceProvider, IMessageSink diagnosticMessageSink)
        : XunitTestFrameworkDiscoverer(assemblyInfo, sourceProvider, diagnosticMessageSink)
    {
        protected override bool FindTestsForMethod(ITestMethod testMethod, bool includeSourceInformation, IMessageBus messageBus,
            ITestFrameworkDiscoveryOptions discoveryOptions)
        {
            string? reason = PostgresServerAvailability.SkipReason;
            if (reason is null || testMethod.Method.GetCustomAttributes(typeof(FactAttribute)).FirstOrDefault() is null)
            {
                return base.FindTestsForMethod(testMethod, includeSourceInformation, messageBus, discoveryOptions);
            }

            var testCase = new XunitSkippedDataRowTestCase(DiagnosticMessageSink, discoveryOptions.MethodDisplayOrDefault(),
                discoveryOptions.MethodDisplayOptionsOrDefault(), testMethod, reason);
            return ReportDiscoveredTestCase(testCase, includeSourceInformation, messageBus);
        }
    }
}

/// <summary>Whether a PostgreSQL server for the tests can be had on this machine, decided from what is installed.</summary>
public static class PostgresServerAvailability
{
    /// <summary>Why no test server can be had here (no <c>MMRAG_TEST_PG</c>, no <c>node</c>/<c>npm</c> on PATH), or null when one can.</summary>
    public static string? UnavailableReason { get; } = FindReason();

    /// <summary>The reason to skip the tests: <see cref="UnavailableReason"/>, but never under <c>CI=true</c>.</summary>
    public static string? SkipReason =>
        string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase) ? null : UnavailableReason;

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
