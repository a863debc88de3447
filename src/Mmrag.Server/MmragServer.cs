using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Cors.Infrastructure;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Logging;
using Mmrag.Hosting;
using Mmrag.Hosting.Wire;
using Mmrag.Server.Api;
using Mmrag.Server.Jobs;
using Mmrag.Server.Observability;
using Mmrag.Server.Security;

namespace Mmrag.Server;

/// <summary>
/// mmrag over HTTP: the API under <c>/api</c>, <c>/healthz</c>, <c>/metrics</c>, <c>/openapi/v1.json</c> and the web
/// page at <c>/</c>, on Kestrel. Create it with <see cref="Create"/>, then <see cref="StartAsync"/> (tests, port 0) or
/// <see cref="WaitForShutdownAsync"/> (the CLI). It does not own the store, model or chat client of its options.
/// </summary>
public sealed partial class MmragServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private MmragServer(WebApplication app) => _app = app;

    /// <summary>The addresses Kestrel listens on, with real ports, once started.</summary>
    public IReadOnlyList<string> Urls => [.. _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? []];

    /// <summary>The first address, for clients.</summary>
    public Uri BaseAddress => new(Urls[0].Replace("://[::]", "://127.0.0.1", StringComparison.Ordinal).Replace("://0.0.0.0", "://127.0.0.1", StringComparison.Ordinal) + "/");

    /// <summary>Builds the server.</summary>
    /// <param name="options">
    /// What to serve; validated here. The host's configuration (environment, <c>appsettings.json</c>, and sources
    /// <paramref name="configure"/> adds) is bound into a copy of it once (<see cref="MmragServerOptions.WithConfiguration"/>),
    /// registered in the host's services, and the server reads only that copy (limits, API key, roots, CORS, hosts, ingestion
    /// settings); its addresses and knowledge base, which configuration does not change, are taken as given.
    /// </param>
    /// <param name="configure">Adjusts the host (logging, configuration, extra services) before it is built.</param>
    /// <exception cref="InvalidOperationException">A non-loopback address without an API key.</exception>
    /// <exception cref="ArgumentException">A setting, or a configuration key, is invalid; the message names it.</exception>
    public static MmragServer Create(MmragServerOptions options, Action<WebApplicationBuilder>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        // The server reads one copy of its options, the one in its services (bound from configuration below). Only the
        // addresses and the knowledge base are taken from the options given, as the host needs them before it is
        // built; configuration never changes them (WithConfiguration copies them as they are).
        builder.WebHost.UseUrls([.. options.Urls]);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            // Endpoints come from the options only: Kestrel's own configuration section would let the environment
            // (Kestrel__Endpoints__X__Url=http://0.0.0.0:…) add addresses that were never checked for an API key.
            kestrel.Configure(new ConfigurationBuilder().Build());
            kestrel.AddServerHeader = false;
        });
        builder.Services.AddOptions<KestrelServerOptions>().Configure<MmragServerOptions>(static (kestrel, server) =>
            kestrel.Limits.MaxRequestBodySize = server.MaxUploadBytes);
        builder.Services.AddOptions<Microsoft.AspNetCore.Http.Features.FormOptions>().Configure<MmragServerOptions>(static (form, server) =>
        {
            form.MultipartBodyLengthLimit = server.MaxUploadBytes;
            form.ValueLengthLimit = (int)Math.Min(int.MaxValue, server.MaxUploadBytes);
        });
        builder.Services.AddProblemDetails();
        // The API writes the one wire format (Mmrag.Hosting.Wire): snake_case, source-generated, text left readable.
        builder.Services.ConfigureHttpJsonOptions(json =>
        {
            json.SerializerOptions.PropertyNamingPolicy = MmragJson.Options.PropertyNamingPolicy;
            json.SerializerOptions.Encoder = MmragJson.Options.Encoder;
            json.SerializerOptions.TypeInfoResolverChain.Insert(0, MmragJsonContext.Default);
        });
        builder.Services.AddOpenApi();
        // A factory, so that what configure adds to the configuration is bound too.
        builder.Services.AddSingleton(services => options.WithConfiguration(services.GetRequiredService<IConfiguration>()));
        builder.Services.AddMmrag(options.KnowledgeBase);
        builder.Services.AddSingleton<KnowledgeBase>();
        builder.Services.AddSingleton<IngestionJobs>();
        builder.Services.AddSingleton<ServerMetrics>();
        builder.Services.AddSingleton(static services => new ApiKeyCheck(services.GetRequiredService<MmragServerOptions>().ApiKey));
        builder.Services.AddSingleton(static services => new PathConfinement(services.GetRequiredService<MmragServerOptions>().AllowedRoots));
        builder.Services.AddSingleton(static services => new HostCheck(services.GetRequiredService<MmragServerOptions>(), services.GetRequiredService<IServer>()));
        builder.Services.AddSingleton(static services => new CrossSiteCheck(services.GetRequiredService<ApiKeyCheck>(), services.GetRequiredService<MmragServerOptions>().CorsOrigins));
        builder.Services.AddCors();
        builder.Services.AddOptions<CorsOptions>().Configure<MmragServerOptions>(static (cors, server) =>
        {
            if (server.CorsOrigins.Count > 0)
            {
                cors.AddDefaultPolicy(policy => policy.WithOrigins([.. server.CorsOrigins]).AllowAnyHeader().AllowAnyMethod());
            }
        });

        configure?.Invoke(builder);
        var app = builder.Build();
        try
        {
            options = app.Services.GetRequiredService<MmragServerOptions>();
        }
        catch
        {
            ((IDisposable)app).Dispose();
            throw;
        }

        Configure(app, options);
        return new MmragServer(app);
    }

    private static void Configure(WebApplication app, MmragServerOptions options)
    {
        var metrics = app.Services.GetRequiredService<ServerMetrics>();
        var apiKey = app.Services.GetRequiredService<ApiKeyCheck>();
        var hostCheck = app.Services.GetRequiredService<HostCheck>();
        var crossSite = app.Services.GetRequiredService<CrossSiteCheck>();
        var logger = app.Services.GetRequiredService<ILogger<MmragServer>>();

        app.Use(async (context, next) =>
        {
            var started = Stopwatch.GetTimestamp();
            try
            {
                await next(context).ConfigureAwait(false);
            }
            finally
            {
                var route = (context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? (context.Response.StatusCode == 404 ? "unmatched" : "static");
                metrics.RecordRequest(context.Request.Method, route, context.Response.StatusCode, Stopwatch.GetElapsedTime(started));
            }
        });

        app.Use(async (context, next) =>
        {
            try
            {
                await next(context).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
            {
                // The client went away: nobody is left to answer (499 in the metrics when nothing was sent yet).
                if (!context.Response.HasStarted)
                {
                    context.Response.StatusCode = 499;
                }
            }
            catch (Exception exception) when (!context.Response.HasStarted)
            {
                var problem = ServerErrors.Map(exception);
                if (problem is null)
                {
                    LogUnhandled(logger, context.Request.Method, context.Request.Path, exception);
                    problem = new Problem(500, "Internal server error", "The server failed to handle the request; see its log.");
                }

                context.Response.Clear();
                await Results.Problem(statusCode: problem.Status, title: problem.Title, detail: problem.Detail).ExecuteAsync(context).ConfigureAwait(false);
            }
        });

        app.UseStatusCodePages();
        app.Use((context, next) =>
        {
            context.Response.Headers.XContentTypeOptions = "nosniff";
            context.Response.Headers["Referrer-Policy"] = "no-referrer";
            return next(context);
        });

        app.Use(async (context, next) =>
        {
            if (hostCheck.Refusal(context.Request) is { } refusal)
            {
                await Results.Problem(statusCode: StatusCodes.Status421MisdirectedRequest, title: "Misdirected request", detail: refusal)
                    .ExecuteAsync(context).ConfigureAwait(false);
                return;
            }

            await next(context).ConfigureAwait(false);
        });

        if (options.CorsOrigins.Count > 0)
        {
            app.UseCors();
        }

        app.Use(async (context, next) =>
        {
            if (ApiKeyCheck.IsProtected(context.Request.Path) && !apiKey.IsAuthorized(context.Request))
            {
                context.Response.Headers.WWWAuthenticate = "Bearer";
                await Results.Problem(statusCode: 401, title: "Unauthorized", detail: "Send the API key in X-Api-Key or Authorization: Bearer.")
                    .ExecuteAsync(context).ConfigureAwait(false);
                return;
            }

            if (crossSite.Refusal(context.Request) is { } refusal)
            {
                await Results.Problem(statusCode: 403, title: "Cross-site request refused", detail: refusal).ExecuteAsync(context).ConfigureAwait(false);
                return;
            }

            await next(context).ConfigureAwait(false);
        });

        var page = new EmbeddedFileProvider(typeof(MmragServer).Assembly, "Mmrag.Server.wwwroot");
        app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = page });
        app.UseStaticFiles(new StaticFileOptions
        {
            FileProvider = page,
            OnPrepareResponse = static file => file.Context.Response.Headers["Content-Security-Policy"] =
                "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
        });

        app.MapGet("/healthz", static () => TypedResults.Ok(new HealthResponse("ok"))).WithName("Health").WithSummary("Liveness.");
        app.MapGet("/metrics", (ServerMetrics m) => Results.Text(m.Render(), "text/plain; version=0.0.4; charset=utf-8"))
            .WithName("Metrics").WithSummary("Prometheus metrics.");
        app.MapOpenApi();

        var api = app.MapGroup("/api");
        api.MapGet("/csrf", static (CrossSiteCheck check) => TypedResults.Ok(new CsrfTokenResponse(check.Token, CrossSiteCheck.TokenHeader)))
            .WithName("GetCsrfToken").WithSummary("The token a browser page sends with multipart POSTs (X-CSRF-Token); another site's page cannot read it.");
        QueryEndpoints.Map(api);
        KnowledgeEndpoints.Map(api);
        FeedbackEndpoints.Map(api);
        api.MapFallback(() => Results.Problem(statusCode: 404, title: "Not found", detail: "No such API endpoint."));
    }

    /// <summary>
    /// Starts listening; returns once the addresses are bound. Without an API key, every address actually bound must be
    /// loopback, whatever configured it (the options' <see cref="MmragServerOptions.Validate"/> only sees the options'
    /// own addresses): otherwise the server stops again and this throws.
    /// </summary>
    /// <exception cref="IOException">An address could not be bound, or a non-loopback address was bound without an API key (the message names it).</exception>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        await _app.StartAsync(cancellationToken).ConfigureAwait(false);
        var options = _app.Services.GetRequiredService<MmragServerOptions>();
        try
        {
            MmragServerOptions.ValidateBinding(Urls, options.ApiKey);
        }
        catch (InvalidOperationException exception)
        {
            // Kestrel reports its own bind failures as IOException too, so a host handles both alike.
            await _app.StopAsync(CancellationToken.None).ConfigureAwait(false);
            throw new IOException($"Stopped: bound to {string.Join(", ", Urls)}. {exception.Message}", exception);
        }

        // Jobs a stopped or killed server left unfinished run again (ingestion is incremental: what was stored stays).
        _app.Services.GetRequiredService<IngestionJobs>().ResumeInterrupted();
    }

    /// <summary>Stops gracefully.</summary>
    public Task StopAsync(CancellationToken cancellationToken = default) => _app.StopAsync(cancellationToken);

    /// <summary>Waits, once started, until <paramref name="cancellationToken"/> is cancelled or the host is asked to stop (Ctrl+C), then stops.</summary>
    public async Task WaitForShutdownAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            await _app.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await _app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Error, Message = "Unhandled error in {Method} {Path}.")]
    private static partial void LogUnhandled(ILogger logger, string method, string path, Exception exception);
}
