namespace Mmrag.Ingestion.Web.Wikipedia;

/// <summary>
/// Resolves the paths <c>wikipedia:Title</c> and <c>wikipedia:LANG:Title</c> of a run (command-line arguments, server
/// jobs) into <see cref="WikipediaSource"/>s of the wiki <see cref="Options"/> names. Give it to a run in
/// <see cref="Pipeline.IngestionOptions.SourceResolvers"/>. Stateless and thread-safe.
/// </summary>
/// <param name="options">The wiki (API, default language) and how images are taken.</param>
public sealed class WikipediaSourceResolver(WikipediaOptions options) : IRemoteSourceResolver
{
    /// <summary>The wiki and how images are taken.</summary>
    public WikipediaOptions Options { get; } = options ?? throw new ArgumentNullException(nameof(options));

    /// <summary>The path of article <paramref name="title"/> in language <paramref name="language"/> (the default one when null).</summary>
    /// <exception cref="ArgumentException">The language is not a Wikipedia language code.</exception>
    public static string PathOf(string title, string? language = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(title);
        if (language is not null)
        {
            // Checked here: a malformed code would otherwise be read back as part of the title.
            new WikipediaOptions { Language = language.Trim() }.Validate();
        }

        return WikipediaOptions.PathPrefix + (string.IsNullOrWhiteSpace(language) ? "" : language.Trim() + ":") + title.Trim();
    }

    /// <inheritdoc />
    public IReadOnlyList<RemoteSource>? Resolve(string path) =>
        WikipediaSource.TryParsePath(path, Options, out var article) ? [article] : null;
}
