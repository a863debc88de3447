using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using System.Text;
using Npgsql;

namespace Mmrag.Storage.Postgres.Tests;

/// <summary>The xUnit collection whose tests share one <see cref="PostgresTestServer"/>.</summary>
[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresTestServer>
{
    public const string Name = "postgres";
}

/// <summary>
/// A PostgreSQL + pgvector server for the tests: the one <c>MMRAG_TEST_PG</c> names when set, otherwise PGlite
/// (PostgreSQL 17 + pgvector 0.8 in WebAssembly) served over the wire protocol by <c>pglite-socket</c> on a free
/// loopback port, installed with <c>npm ci</c> into <c>pglite/node_modules</c> on first use and killed at the end.
/// </summary>
/// <remarks>
/// When no server can be had the fixture throws, with the reason, and every test of the collection fails. Locally
/// that only happens when node/npm are installed but PGlite still cannot start: without them
/// <see cref="PostgresTestFramework"/> reports the tests skipped, except under <c>CI=true</c>, where they must run.
/// PGlite's limits shape the connection string: no TLS, no reset on close, a pool below the server's <c>-m</c>.
/// The server is <c>pglite/server.mjs</c>, not pglite-socket's own script: pglite-socket 0.0.22 queues protocol
/// messages one by one and keeps the backend for one connection only while a transaction is open, so two
/// connections starting statements at once got their Parse/Bind messages interleaved ("BindComplete while
/// expecting ParseComplete"); server.mjs keeps it for a connection until ReadyForQuery says idle.
/// </remarks>
public sealed class PostgresTestServer : IAsyncLifetime
{
    private const int ServerMaxConnections = 24;
    private Process? _server;
    private readonly StringBuilder _serverOutput = new();

    /// <summary>The base connection string (pool of 8).</summary>
    public string ConnectionString { get; private set; } = "";

    /// <summary>Whether the server is PGlite (slow HNSW builds, serialized transactions).</summary>
    public bool IsPglite { get; private set; }

    /// <summary>A connection string with another pool size.</summary>
    public string WithPoolSize(int size) => new NpgsqlConnectionStringBuilder(ConnectionString) { MaxPoolSize = size }.ConnectionString;

    public async Task InitializeAsync()
    {
        string? external = Environment.GetEnvironmentVariable("MMRAG_TEST_PG");
        if (!string.IsNullOrWhiteSpace(external))
        {
            ConnectionString = external;
            return;
        }

        IsPglite = true;
        string folder = typeof(PostgresTestServer).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "PgliteFolder").Value!;
        string script = Path.Combine(folder, "server.mjs");
        try
        {
            if (!Directory.Exists(Path.Combine(folder, "node_modules", "@electric-sql", "pglite-socket")))
            {
                await RunAsync("npm", $"ci --no-audit --no-fund --prefix \"{folder}\"", TimeSpan.FromMinutes(3));
            }

            int port = FreePort();
            // pglite/server.mjs: pglite-socket's server with its message queue fixed (see there), on an in-memory
            // database (each test uses its own schema; nothing must outlive the run), with pgvector loaded.
            var start = new ProcessStartInfo("node")
            {
                WorkingDirectory = folder,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (string argument in (string[])[script, "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "-h", "127.0.0.1", "-m", ServerMaxConnections.ToString(System.Globalization.CultureInfo.InvariantCulture)])
            {
                start.ArgumentList.Add(argument);
            }

            _server = Process.Start(start) ?? throw new InvalidOperationException("node did not start.");
            _server.OutputDataReceived += (_, e) => Append(e.Data);
            _server.ErrorDataReceived += (_, e) => Append(e.Data);
            _server.BeginOutputReadLine();
            _server.BeginErrorReadLine();
            ConnectionString = $"Host=127.0.0.1;Port={port};Username=postgres;Password=postgres;Database=postgres;SSL Mode=Disable;" +
                "No Reset On Close=true;Maximum Pool Size=8;Timeout=30;Command Timeout=300";
            await WaitUntilAcceptingAsync(TimeSpan.FromSeconds(60));
        }
        catch (Exception ex) when (ex is not PostgresTestServerUnavailableException)
        {
            await DisposeAsync();
            throw new PostgresTestServerUnavailableException(
                "No PostgreSQL + pgvector server for the tests: PGlite could not be started (" + ex.Message + "). Install Node.js 20+ with npm " +
                "(the fixture runs `npm ci --prefix tests/Mmrag.Storage.Postgres.Tests/pglite`), or set MMRAG_TEST_PG to a PostgreSQL with pgvector. " +
                $"Server output: {ServerOutput()}", ex);
        }
    }

    public Task DisposeAsync()
    {
        if (_server is { } server)
        {
            _server = null;
            try
            {
                if (!server.HasExited)
                {
                    server.Kill(entireProcessTree: true);
                    server.WaitForExit(10_000);
                }
            }
            catch (InvalidOperationException)
            {
            }

            server.Dispose();
        }

        return Task.CompletedTask;
    }

    /// <summary>Drops schemas the tests created.</summary>
    public async Task DropSchemasAsync(IEnumerable<string> schemas)
    {
        await using NpgsqlDataSource dataSource = NpgsqlDataSource.Create(WithPoolSize(1));
        await using NpgsqlConnection connection = await dataSource.OpenConnectionAsync();
        foreach (string schema in schemas)
        {
            await using var command = new NpgsqlCommand($"DROP SCHEMA IF EXISTS \"{schema}\" CASCADE", connection);
            await command.ExecuteNonQueryAsync();
        }
    }

    /// <summary>
    /// A connection string whose sessions run with the given settings (e.g. <c>default_transaction_read_only = on</c>,
    /// <c>role = reader</c>) until the returned scope is disposed. On a real server they are startup options of the
    /// connection string, so only its sessions have them. PGlite ignores startup options and serves every connection
    /// from one backend, so there they are set on that backend, for every connection, and reset when the scope ends
    /// (the tests of the collection run one at a time).
    /// </summary>
    public async Task<SessionSettingsScope> WithSessionSettingsAsync(params (string Name, string Value)[] settings)
    {
        if (!IsPglite)
        {
            string options = string.Join(' ', settings.Select(s => $"-c {s.Name}={s.Value}"));
            return new SessionSettingsScope(new NpgsqlConnectionStringBuilder(ConnectionString) { Options = options }.ConnectionString, null);
        }

        await ExecuteAsync(string.Join("; ", settings.Select(s => $"SET {s.Name} = '{s.Value}'")));
        return new SessionSettingsScope(ConnectionString, () => ExecuteAsync(string.Join("; ", settings.Reverse().Select(s => $"RESET {s.Name}"))));
    }

    /// <summary>Runs SQL on a connection of its own (as the fixture's user on a real server).</summary>
    public async Task ExecuteAsync(string sql)
    {
        await using NpgsqlDataSource dataSource = NpgsqlDataSource.Create(WithPoolSize(1));
        await using NpgsqlConnection connection = await dataSource.OpenConnectionAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>A new schema name, unique in the run.</summary>
    public static string NewSchema() => "t_" + Guid.NewGuid().ToString("N")[..16];

    private async Task WaitUntilAcceptingAsync(TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (_server is { HasExited: true })
            {
                throw new InvalidOperationException($"the PGlite server exited with code {_server.ExitCode}");
            }

            try
            {
                await using NpgsqlDataSource probe = NpgsqlDataSource.Create(WithPoolSize(1));
                await using NpgsqlConnection connection = await probe.OpenConnectionAsync();
                await using var command = new NpgsqlCommand("SELECT 1", connection);
                await command.ExecuteScalarAsync();
                return;
            }
            catch (Exception ex) when (ex is NpgsqlException or SocketException or TimeoutException && clock.Elapsed < timeout)
            {
                await Task.Delay(250);
            }
        }
    }

    private static async Task RunAsync(string file, string arguments, TimeSpan timeout)
    {
        using var process = Process.Start(new ProcessStartInfo(file, arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        }) ?? throw new InvalidOperationException($"{file} did not start.");
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        await process.WaitForExitAsync(cts.Token);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"`{file} {arguments}` exited with {process.ExitCode}: {await error}{await output}");
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_serverOutput)
            {
                if (_serverOutput.Length < 8_000)
                {
                    _serverOutput.AppendLine(line);
                }
            }
        }
    }

    private string ServerOutput()
    {
        lock (_serverOutput)
        {
            return _serverOutput.ToString();
        }
    }
}

/// <summary>
/// A test that needs a real PostgreSQL server (<c>MMRAG_TEST_PG</c>): skipped, with the reason, when the tests run on
/// PGlite, CI included, whose emulation cannot do what the test needs.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class RealServerFactAttribute : FactAttribute
{
    public RealServerFactAttribute(string why)
    {
        if (string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable("MMRAG_TEST_PG")))
        {
            Skip = $"Needs a real PostgreSQL server (set MMRAG_TEST_PG to a PostgreSQL with pgvector): {why}";
        }
    }
}

/// <summary>A connection string with session settings, and how to undo them where they were made server-wide (PGlite).</summary>
public sealed class SessionSettingsScope(string connectionString, Func<Task>? reset) : IAsyncDisposable
{
    /// <summary>Connections made with this string run with the settings.</summary>
    public string ConnectionString { get; } = connectionString;

    public async ValueTask DisposeAsync()
    {
        if (reset is not null)
        {
            await reset();
        }
    }
}

/// <summary>No PostgreSQL server could be had for the tests (the message says why and what to install).</summary>
public sealed class PostgresTestServerUnavailableException : Exception
{
    public PostgresTestServerUnavailableException(string message, Exception inner) : base(message, inner) { }

    public PostgresTestServerUnavailableException() { }

    public PostgresTestServerUnavailableException(string message) : base(message) { }
}
