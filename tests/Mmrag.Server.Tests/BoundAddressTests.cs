using System.Net.Sockets;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;
using Mmrag.Testing;

namespace Mmrag.Server.Tests;

/// <summary>
/// The no-key rule holds for the addresses actually bound, whatever configured them: the host (a configure callback),
/// or Kestrel's configuration from the environment (<c>Kestrel__Endpoints__X__Url</c>) under a real <c>mmrag serve</c>.
/// </summary>
[Collection("server")]
public sealed partial class BoundAddressTests(ServerFixture fixture)
{
    [Fact]
    public async Task Start_HostBindsAllInterfacesWithoutApiKey_StopsAndSaysWhy()
    {
        var server = MmragServer.Create(fixture.Options(), static builder =>
        {
            builder.Logging.ClearProviders();
            builder.WebHost.UseUrls("http://0.0.0.0:0");
        });
        await using (server)
        {
            var error = await Assert.ThrowsAsync<IOException>(() => server.StartAsync());

            Assert.Contains("MMRAG_API_KEY", error.Message, StringComparison.Ordinal);
            Assert.Contains("0.0.0.0", error.Message, StringComparison.Ordinal);
            var port = int.Parse(BoundPort().Match(error.Message).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            Assert.False(await IsListeningAsync(port), $"port {port} still accepts connections");
        }
    }

    [Fact]
    public async Task Serve_KestrelEndpointFromTheEnvironmentWithoutApiKey_DoesNotListenThere()
    {
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable(MmragServerOptions.ApiKeyVariable)))
        {
            return; // The rule under test needs the key unset; the child inherits a developer's MMRAG_API_KEY otherwise.
        }

        var temp = Path.Combine(Path.GetTempPath(), "mmrag-bind-test-" + Guid.NewGuid().ToString("N"));
        var publicPort = FreePort();
        var serve = MmragServeProcess.Start(new Dictionary<string, string?>
        {
            ["Kestrel__Endpoints__Public__Url"] = $"http://0.0.0.0:{publicPort}",
            [MmragServerOptions.ApiKeyVariable] = null,
            ["MMRAG_LLM_BASE_URL"] = null,
        }, "--kb", Path.Combine(temp, "kb"), "--model", ClipFixtureLocator.ModelDirectory, "--urls", "http://127.0.0.1:0");
        try
        {
            await using (serve)
            {
                var line = await serve.ServingLineAsync();

                // Either outcome keeps the rule: refusing to run, or running on loopback only.
                if (line is null)
                {
                    await serve.Process.WaitForExitAsync();
                    Assert.NotEqual(0, serve.Process.ExitCode);
                    Assert.Contains(MmragServerOptions.ApiKeyVariable, serve.Output, StringComparison.Ordinal);
                }
                else
                {
                    Assert.DoesNotContain("0.0.0.0", line, StringComparison.Ordinal);
                    Assert.False(await IsListeningAsync(publicPort), $"mmrag serve listens on {publicPort}: {line}");
                }
            }
        }
        finally
        {
            try
            {
                Directory.Delete(temp, recursive: true);
            }
            catch (IOException)
            {
                // Best effort.
            }
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task<bool> IsListeningAsync(int port)
    {
        using var client = new TcpClient();
        try
        {
            await client.ConnectAsync(System.Net.IPAddress.Loopback, port).WaitAsync(TimeSpan.FromSeconds(10));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    [GeneratedRegex(@"0\.0\.0\.0:(\d+)")]
    private static partial Regex BoundPort();
}
