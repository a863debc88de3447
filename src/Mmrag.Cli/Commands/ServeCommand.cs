using System.CommandLine;
using Microsoft.Extensions.Configuration;
using Mmrag.Hosting;
using Mmrag.Server;

namespace Mmrag.Cli.Commands;

/// <summary><c>mmrag serve</c>: the HTTP API and web page over one knowledge base, until Ctrl+C.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var kb = new KnowledgeBaseOptions();
        var urls = new Option<string[]>("--urls") { Description = "Addresses to listen on (default http://127.0.0.1:5077). A non-loopback address needs MMRAG_API_KEY." };
        var roots = new Option<string[]>("--ingest-root") { Description = "Server-side folder that POST /api/ingest {\"path\"} may read (repeatable; also MMRAG_INGEST_ROOTS, ':'-separated)." };
        var maxUpload = new Option<long>("--max-upload-mb") { Description = "Largest request body in MiB.", DefaultValueFactory = static _ => 64 }.AtLeast(1);
        var cors = new Option<string[]>("--cors-origin") { Description = "Allow this browser origin (repeatable; CORS is off otherwise)." };
        var hosts = new Option<string[]>("--allowed-host")
        {
            Description = "Accept requests for this Host name (name or name:port; repeatable; also MMRAG_ALLOWED_HOSTS, ','-separated), e.g. behind a reverse proxy; loopback names and the bound addresses are always accepted.",
        };
        var allowPrivate = new Option<bool>("--allow-private-hosts")
        {
            Description = $"Let POST /api/ingest {{\"urls\"}} fetch hosts that resolve to loopback, private or link-local addresses (refused by default; also {MmragServerOptions.AllowPrivateHostsSetting}).",
        };
        var wikipediaApi = new Option<string?>("--wikipedia-api")
        {
            Description = $"The MediaWiki API Wikipedia jobs read articles from instead of https://LANG.wikipedia.org/w/api.php (also {MmragServerOptions.WikipediaApiSetting}).",
        };
        var command = new Command("serve", "Serve the knowledge base over HTTP: the API (/api, /openapi/v1.json, /metrics) and the web page.");
        kb.AddTo(command);
        foreach (var option in new Option[] { urls, roots, maxUpload, cors, hosts, allowPrivate, wikipediaApi })
        {
            command.Options.Add(option);
        }

        command.SetAction((parseResult, cancellationToken) => CliErrors.RunAsync(parseResult.InvocationConfiguration.Error, async () =>
        {
            string[] addresses = parseResult.GetValue(urls) is { Length: > 0 } given ? given : ["http://127.0.0.1:5077"];
            var apiKey = CliEnvironment.Get(MmragServerOptions.ApiKeyVariable);
            try
            {
                MmragServerOptions.ValidateBinding(addresses, apiKey);
            }
            catch (InvalidOperationException exception)
            {
                await parseResult.InvocationConfiguration.Error.WriteLineAsync($"error: {exception.Message}");
                return CliErrors.Failure;
            }

            // The options go in as configuration keys, the last source, so that they win over the environment's and
            // reach the server through the one channel it reads its ingestion settings from.
            var settings = new Dictionary<string, string?>();
            if (parseResult.GetValue(allowPrivate))
            {
                settings[MmragServerOptions.AllowPrivateHostsSetting] = "true";
            }

            if (parseResult.GetValue(wikipediaApi) is { } api)
            {
                settings[MmragServerOptions.WikipediaApiSetting] = IngestionRequest.ParseWikipediaApi(api, "--wikipedia-api").AbsoluteUri;
            }

            await using var session = await kb.OpenAsync(parseResult, create: true, withModel: true, cancellationToken);
            var allowed = (parseResult.GetValue(roots) ?? []).Concat(
                (CliEnvironment.Get("MMRAG_INGEST_ROOTS") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
            var options = new MmragServerOptions
            {
                KnowledgeBase = session,
                Urls = addresses,
                ApiKey = apiKey,
                AllowedRoots = [.. allowed],
                MaxUploadBytes = parseResult.GetValue(maxUpload) * 1024 * 1024,
                CorsOrigins = parseResult.GetValue(cors) ?? [],
                AllowedHosts = [.. (parseResult.GetValue(hosts) ?? []).Concat((CliEnvironment.Get("MMRAG_ALLOWED_HOSTS") ?? "")
                    .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))],
            };

            var server = MmragServer.Create(options, builder => builder.Configuration.AddInMemoryCollection(settings));
            await using (server)
            {
                await server.StartAsync(cancellationToken);
                await parseResult.InvocationConfiguration.Output.WriteLineAsync(
                    $"serving {session.Label} ({session.Store.Space.ModelId}) on {string.Join(", ", server.Urls)}{(session.ChatClient is null ? "; no LLM configured" : "")}; Ctrl+C stops");
                await server.WaitForShutdownAsync(cancellationToken);
            }

            return 0;
        }));
        return command;
    }
}
