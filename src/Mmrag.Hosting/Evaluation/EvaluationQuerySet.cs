using System.Text.Json;
using Mmrag.Hosting.Wire;
using Mmrag.Retrieval.Search;

namespace Mmrag.Hosting.Evaluation;

/// <summary>One labelled query of an evaluation set.</summary>
/// <param name="Id">The query's id (its line number when the file gives none).</param>
/// <param name="Text">The text query, if any.</param>
/// <param name="ImagePath">The query image's full path, if any.</param>
/// <param name="Target">What it searches.</param>
/// <param name="Relevant">The relevant entries as written: paths relative to <paramref name="Folder"/>, or item ids. Empty for a "no match" query.</param>
/// <param name="Folder">The folder relative paths are resolved against (the queries file's).</param>
/// <param name="Irrelevant">Entries judged not relevant (<c>"irrelevant"</c>, optional; used by <c>mmrag tune</c>, not by the metrics).</param>
public sealed record EvaluationQuery(string Id, string? Text, string? ImagePath, SearchTarget Target, IReadOnlyList<string> Relevant, string Folder,
    IReadOnlyList<string>? Irrelevant = null)
{
    /// <summary>
    /// The source an entry of <see cref="Relevant"/> or <see cref="Irrelevant"/> names, as items' provenance spells it: an
    /// http(s) URL as written (fragment dropped), else the full path of the entry relative to <see cref="Folder"/>; null
    /// when it can be neither (then it can only be an item id). <c>mmrag eval</c> and <c>mmrag tune</c> both resolve
    /// entries through this, so a queries file means the same to both.
    /// </summary>
    public string? SourceOf(string entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        if (Mmrag.Ingestion.Web.RemoteSources.IsUrl(entry))
        {
            return Uri.TryCreate(entry, UriKind.Absolute, out var uri) ? Mmrag.Ingestion.Web.RemoteSources.Normalize(uri).AbsoluteUri : null;
        }

        return entry.Length > 0 && entry.AsSpan().IndexOfAny(Path.GetInvalidPathChars()) < 0 ? Path.GetFullPath(Path.Combine(Folder, entry)) : null;
    }

    /// <summary>
    /// The direction the query is reported under: its modality (<c>text</c>, <c>image</c> or <c>text+image</c>) and its
    /// target (<c>image</c>, <c>text</c> or <c>all</c>), e.g. <c>text-&gt;image</c>.
    /// </summary>
    public string Direction
    {
        get
        {
            var from = Text is null ? "image" : ImagePath is null ? "text" : "text+image";
            var to = Target switch { SearchTarget.Images => "image", SearchTarget.Text => "text", _ => "all" };
            return $"{from}->{to}";
        }
    }
}

/// <summary>
/// Reads an evaluation set: JSON Lines, one query per line, <c>{"id", "text" | "image", "target": "images" | "text" |
/// "all", "relevant": [...]}</c> (other keys ignored), the format of the shapes sets' <c>queries.jsonl</c>. Query images
/// and relevant paths are relative to the file's folder.
/// </summary>
public static class EvaluationQuerySet
{
    /// <summary>Reads the queries of <paramref name="path"/>.</summary>
    /// <exception cref="InvalidDataException">A line is not a query; the message names the line.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static async Task<IReadOnlyList<EvaluationQuery>> LoadAsync(string path, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var lines = await File.ReadAllLinesAsync(path, cancellationToken).ConfigureAwait(false);
        var queries = new List<EvaluationQuery>(lines.Length);
        for (var i = 0; i < lines.Length; i++)
        {
            if (string.IsNullOrWhiteSpace(lines[i]))
            {
                continue;
            }

            try
            {
                queries.Add(Parse(lines[i], folder, i + 1));
            }
            catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
            {
                throw new InvalidDataException($"{path}:{i + 1}: not an evaluation query ({ex.Message}).", ex);
            }
        }

        return queries;
    }

    private static EvaluationQuery Parse(string line, string folder, int lineNumber)
    {
        using var document = JsonDocument.Parse(line);
        var root = document.RootElement;
        string? Read(string name) => root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

        var text = Read("text");
        var image = Read("image");
        if (string.IsNullOrWhiteSpace(text) && string.IsNullOrWhiteSpace(image))
        {
            throw new FormatException("it has neither \"text\" nor \"image\"");
        }

        var targetName = Read("target") ?? "all";
        if (!QueryVocabulary.TryParseTarget(targetName, out var target))
        {
            throw new FormatException($"\"target\" must be one of {string.Join(", ", QueryVocabulary.TargetNames)}, not '{targetName}'");
        }

        return new EvaluationQuery(Read("id") ?? lineNumber.ToString(System.Globalization.CultureInfo.InvariantCulture),
            string.IsNullOrWhiteSpace(text) ? null : text,
            string.IsNullOrWhiteSpace(image) ? null : Path.GetFullPath(Path.Combine(folder, image)),
            target, Entries(root, "relevant"), folder, Entries(root, "irrelevant"));
    }

    private static List<string> Entries(JsonElement root, string name)
    {
        var entries = new List<string>();
        if (root.TryGetProperty(name, out var list) && list.ValueKind != JsonValueKind.Null)
        {
            foreach (var entry in list.EnumerateArray())
            {
                entries.Add(entry.GetString() ?? throw new FormatException($"\"{name}\" holds a null"));
            }
        }

        return entries;
    }
}
