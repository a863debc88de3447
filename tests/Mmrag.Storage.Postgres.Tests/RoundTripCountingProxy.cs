using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace Mmrag.Storage.Postgres.Tests;

/// <summary>
/// A loopback TCP proxy in front of the test server that counts round trips: a round trip begins each time a client
/// sends after the server last answered it (or first, on a new connection), however many messages or TCP segments the
/// request takes. The wire protocol is relayed unchanged, so the client talks to the real server.
/// </summary>
public sealed class RoundTripCountingProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly string _host;
    private readonly int _port;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _pumps = [];
    private readonly Task _accepting;
    private int _roundTrips;

    /// <summary>Starts relaying to the server <paramref name="connectionString"/> names.</summary>
    public RoundTripCountingProxy(string connectionString)
    {
        var target = new NpgsqlConnectionStringBuilder(connectionString);
        _host = target.Host!;
        _port = target.Port;
        _listener.Start();
        ConnectionString = new NpgsqlConnectionStringBuilder(connectionString)
        {
            Host = "127.0.0.1",
            Port = ((IPEndPoint)_listener.LocalEndpoint).Port,
        }.ConnectionString;
        _accepting = AcceptAsync();
    }

    /// <summary>The target's connection string, pointed at the proxy.</summary>
    public string ConnectionString { get; }

    /// <summary>Round trips since the start or the last <see cref="Reset"/>.</summary>
    public int RoundTrips => Volatile.Read(ref _roundTrips);

    public void Reset() => Interlocked.Exchange(ref _roundTrips, 0);

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            var server = new TcpClient();
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
                await server.ConnectAsync(_host, _port, _stop.Token);
            }
            catch (OperationCanceledException)
            {
                server.Dispose();
                return;
            }

            var turn = new Turn();
            lock (_pumps)
            {
                _pumps.Add(PumpAsync(client, server, turn, fromClient: true));
                _pumps.Add(PumpAsync(server, client, turn, fromClient: false));
            }
        }
    }

    private async Task PumpAsync(TcpClient from, TcpClient to, Turn turn, bool fromClient)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                int read = await from.GetStream().ReadAsync(buffer, _stop.Token);
                if (read == 0)
                {
                    break;
                }

                // The turn changes before the bytes go on, so the other side cannot answer before it is recorded.
                lock (turn)
                {
                    if (fromClient && !turn.ClientSpeaking)
                    {
                        Interlocked.Increment(ref _roundTrips);
                    }

                    turn.ClientSpeaking = fromClient;
                }

                await to.GetStream().WriteAsync(buffer.AsMemory(0, read), _stop.Token);
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or SocketException)
        {
        }
        finally
        {
            from.Dispose();
            to.Dispose();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        Task[] pumps;
        lock (_pumps)
        {
            pumps = [.. _pumps];
        }

        await Task.WhenAll(pumps);
        _stop.Dispose();
    }

    private sealed class Turn
    {
        public bool ClientSpeaking { get; set; }
    }
}
