using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using System.Text;
using System.Text.Json;
using Npgsql;

namespace Mmrag.Benchmarks.Backends;

/// <summary>
/// PGlite (PostgreSQL 17 + pgvector 0.8 compiled to WebAssembly, one thread) on a free loopback port, for a benchmark
/// run on a machine without a PostgreSQL server: the Postgres tests' <c>pglite/server.mjs</c> (pglite-socket with its
/// message queue fixed), on an in-memory database. Killed on dispose, when the run is cancelled, and at process exit.
/// </summary>
internal sealed class PgliteServer : IAsyncDisposable
{
    // The store's pool plus the benchmark's own connections stay well below this (PGlite refuses connections past -m).
    private const int MaxConnections = 16;

    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly EventHandler _onExit;
    private readonly CancellationTokenRegistration _onCancel;

    private PgliteServer(Process process, string connectionString, CancellationToken stop)
    {
        _process = process;
        ConnectionString = connectionString;
        _onExit = (_, _) => Kill();
        AppDomain.CurrentDomain.ProcessExit += _onExit;
        _onCancel = stop.UnsafeRegister(_ => Kill(), null);
    }

    /// <summary>Connection string: no TLS and no reset on close (PGlite supports neither), a pool of 4, no command timeout (a REINDEX takes minutes).</summary>
    public string ConnectionString { get; }

    /// <summary>The PGlite version installed in the server's node_modules.</summary>
    public static string PgliteVersion
    {
        get
        {
            using JsonDocument package = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Folder, "node_modules", "@electric-sql", "pglite", "package.json")));
            return package.RootElement.GetProperty("version").GetString() ?? "?";
        }
    }

    private static string Folder => typeof(PgliteServer).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "PgliteFolder").Value!;

    /// <summary>Starts the server; cancelling <paramref name="cancellationToken"/>, then or later, kills it.</summary>
    public static async Task<PgliteServer> StartAsync(CancellationToken cancellationToken)
    {
        string folder = Folder;
        if (!Directory.Exists(Path.Combine(folder, "node_modules", "@electric-sql", "pglite-socket")))
        {
            Console.Error.WriteLine($"# npm ci --prefix {folder}");
            using Process npm = Process.Start(new ProcessStartInfo("npm", ["ci", "--no-audit", "--no-fund", "--prefix", folder]) { UseShellExecute = false })
                ?? throw new InvalidOperationException("npm did not start.");
            await npm.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            if (npm.ExitCode != 0)
            {
                throw new InvalidOperationException($"npm ci --prefix {folder} exited with {npm.ExitCode}");
            }
        }

        int port = FreePort();
        string[] arguments = ["server.mjs", "-p", port.ToString(CultureInfo.InvariantCulture), "-h", "127.0.0.1", "-m", MaxConnections.ToString(CultureInfo.InvariantCulture)];
        var start = new ProcessStartInfo("node", arguments) { WorkingDirectory = folder, RedirectStandardOutput = true, RedirectStandardError = true };
        Process process = Process.Start(start) ?? throw new InvalidOperationException("node did not start.");
        var server = new PgliteServer(process, $"Host=127.0.0.1;Port={port};Username=postgres;Password=postgres;Database=postgres;" +
            "SSL Mode=Disable;No Reset On Close=true;Maximum Pool Size=4;Timeout=60;Command Timeout=0", cancellationToken);
        try
        {
            process.OutputDataReceived += (_, e) => server.Append(e.Data);
            process.ErrorDataReceived += (_, e) => server.Append(e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            await server.WaitUntilAcceptingAsync(TimeSpan.FromSeconds(60), cancellationToken).ConfigureAwait(false);
            return server;
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public ValueTask DisposeAsync()
    {
        _onCancel.Dispose();
        AppDomain.CurrentDomain.ProcessExit -= _onExit;
        Kill();
        _process.Dispose();
        return ValueTask.CompletedTask;
    }

    private void Kill()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
            // Exited (or was never started) between the check and the kill.
        }
    }

    private async Task WaitUntilAcceptingAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"the PGlite server exited with code {_process.ExitCode}: {Output()}");
            }

            try
            {
                var connection = new NpgsqlConnection(ConnectionString + ";Pooling=false");
                await using (connection.ConfigureAwait(false))
                {
                    await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
                    return;
                }
            }
            catch (Exception ex) when (ex is NpgsqlException or SocketException or TimeoutException && clock.Elapsed < timeout)
            {
                await Task.Delay(250, cancellationToken).ConfigureAwait(false);
            }
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
        lock (_output)
        {
            if (line is not null && _output.Length < 8_000)
            {
                _output.AppendLine(line);
            }
        }
    }

    private string Output()
    {
        lock (_output)
        {
            return _output.ToString();
        }
    }
}
