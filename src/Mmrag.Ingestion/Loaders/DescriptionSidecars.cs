using System.Text;
using System.Text.Json;
using Mmrag.Knowledge;

namespace Mmrag.Ingestion.Loaders;

/// <summary>Image descriptions read from sidecar files.</summary>
/// <param name="Descriptions">Description by absolute image path.</param>
/// <param name="Failures">Entries or files that could not be read (the sidecar file and line are named); the others were read.</param>
/// <param name="SidecarFiles">The sidecar files that were read (absolute paths); they are not documents themselves.</param>
public sealed record DescriptionSidecarResult(
    IReadOnlyDictionary<string, string> Descriptions,
    IReadOnlyList<IngestionFailure> Failures,
    IReadOnlyList<string> SidecarFiles);

/// <summary>
/// Reads image descriptions from sidecar files:
/// <list type="bullet">
/// <item><c>description.json</c> as JSON Lines of <c>{"image_path": …, "description": …}</c> (the OpenAI cookbook's format), or a JSON array of such objects;</item>
/// <item>a CSV file (RFC 4180, header row required) with columns <c>image_path</c> and <c>description</c> in any order;</item>
/// <item><c>&lt;image&gt;.txt</c> beside an image (<c>cat.jpg.txt</c> or <c>cat.txt</c> for <c>cat.jpg</c>).</item>
/// </list>
/// Image paths are resolved relative to the sidecar's folder. A path leading outside the ingested root — through
/// <c>..</c>, an absolute path or a symbolic link — is rejected and reported, never followed; so is a sidecar that is
/// itself such a link, and one that is not a regular file (a FIFO named <c>description.json</c> is not opened). An
/// entry naming an image that does not exist is reported, and a description longer than the limit is cut to it and
/// reported. Invalid UTF-8 and malformed entries are reported with the file and line; the other entries are still
/// read. Thread-safe.
/// </summary>
public static class DescriptionSidecars
{
    /// <summary>Largest sidecar read, in bytes.</summary>
    public const long MaxSidecarBytes = 64L * 1024 * 1024;

    /// <summary>
    /// Default longest description kept, in characters (descriptions are stored with their images and sent into
    /// prompts, so a megabyte of text in a sidecar must not be).
    /// </summary>
    public const int DefaultMaxDescriptionLength = 4_000;

    private const long MaxTextSidecarBytes = 1024 * 1024;

    private static readonly string[] FolderFiles =
        ["description.json", "description.jsonl", "description.csv", "descriptions.json", "descriptions.jsonl", "descriptions.csv"];

    private static readonly HashSet<string> FolderFileSet = new(FolderFiles, StringComparer.OrdinalIgnoreCase);

    /// <summary>Whether a file of this name is read as a folder's description table (<c>description.json</c>, <c>descriptions.csv</c> …).</summary>
    public static bool IsDescriptionTableName(string fileName) => FolderFileSet.Contains(fileName);

    /// <summary>
    /// Reads the sidecars of one folder (not its subfolders): its description table(s), then the <c>&lt;image&gt;.txt</c>
    /// files of its images, which take precedence.
    /// </summary>
    /// <param name="folder">The folder.</param>
    /// <param name="root">The ingested root that image paths may not leave.</param>
    /// <param name="maxDescriptionLength">Longest description kept, in characters; longer ones are cut and reported.</param>
    public static DescriptionSidecarResult ReadFolder(string folder, string root, int maxDescriptionLength = DefaultMaxDescriptionLength)
    {
        ArgumentNullException.ThrowIfNull(folder);
        ArgumentNullException.ThrowIfNull(root);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxDescriptionLength, 1);
        var reader = new SidecarReader([PathGuard.Normalize(root)], maxDescriptionLength);
        var full = PathGuard.Normalize(folder);
        string[] files;
        try
        {
            files = Directory.GetFiles(full);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            reader.Fail(full, $"The folder cannot be listed for description sidecars ({ex.Message}).", null);
            return reader.Result();
        }

        Array.Sort(files, StringComparer.Ordinal);
        var byName = files.ToDictionary(f => Path.GetFileName(f), f => f, PathGuard.Comparer);
        foreach (var name in FolderFiles)
        {
            if (byName.TryGetValue(name, out var table))
            {
                reader.ReadTable(table, name.EndsWith(".csv", StringComparison.OrdinalIgnoreCase) ? TableFormat.Csv : TableFormat.Json);
            }
        }

        foreach (var image in files.Where(ImageFormats.HasImageExtension))
        {
            var name = Path.GetFileName(image);
            var stem = Path.GetFileNameWithoutExtension(image);
            if (byName.TryGetValue(name + ".txt", out var text) || byName.TryGetValue(stem + ".txt", out text))
            {
                reader.ReadText(text, image);
            }
        }

        return reader.Result();
    }

    /// <summary>
    /// Reads one description file given explicitly (e.g. <c>--descriptions FILE</c>), in any of the table formats:
    /// <c>.csv</c> is CSV, <c>.json</c>/<c>.jsonl</c> JSON (array or lines), anything else by its first character.
    /// </summary>
    /// <param name="path">The file.</param>
    /// <param name="roots">The ingested roots; image paths must stay inside one of them.</param>
    /// <param name="maxDescriptionLength">Longest description kept, in characters; longer ones are cut and reported.</param>
    public static DescriptionSidecarResult ReadFile(string path, IReadOnlyList<string> roots, int maxDescriptionLength = DefaultMaxDescriptionLength)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(roots);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxDescriptionLength, 1);
        var reader = new SidecarReader([.. roots.Select(PathGuard.Normalize)], maxDescriptionLength);
        var full = PathGuard.Normalize(path);
        var extension = Path.GetExtension(full);
        var format = extension.Equals(".csv", StringComparison.OrdinalIgnoreCase) ? TableFormat.Csv
            : extension.Equals(".json", StringComparison.OrdinalIgnoreCase) || extension.Equals(".jsonl", StringComparison.OrdinalIgnoreCase) ? TableFormat.Json
            : TableFormat.Sniff;
        reader.ReadTable(full, format, checkContainment: false);
        return reader.Result();
    }

    private enum TableFormat
    {
        Json,
        Csv,
        Sniff,
    }

    /// <summary>One read: accumulates descriptions and failures.</summary>
    private sealed class SidecarReader(IReadOnlyList<string> roots, int maxDescriptionLength)
    {
        private readonly Dictionary<string, string> _descriptions = new(PathGuard.Comparer);
        private readonly List<IngestionFailure> _failures = [];
        private readonly List<string> _files = [];

        public DescriptionSidecarResult Result() => new(_descriptions, _failures, _files);

        public void Fail(string file, string reason, int? line) =>
            _failures.Add(new IngestionFailure(file, line is { } l ? $"line {l}: {reason}" : reason, line is { } n ? $"line {n}" : null,
                DateTimeOffset.UtcNow));

        public void ReadTable(string file, TableFormat format, bool checkContainment = true)
        {
            _files.Add(file);
            var decoded = ReadSidecar(file, MaxSidecarBytes, checkContainment);
            if (decoded is null)
            {
                return;
            }

            var text = decoded.Text;
            var firstChar = text.AsSpan().TrimStart().IsEmpty ? '\0' : text.AsSpan().TrimStart()[0];
            if (format == TableFormat.Sniff)
            {
                format = firstChar is '[' or '{' ? TableFormat.Json : TableFormat.Csv;
            }

            if (format == TableFormat.Csv)
            {
                ReadCsv(file, decoded);
            }
            else if (firstChar == '[')
            {
                ReadJsonArray(file, decoded);
            }
            else
            {
                ReadJsonLines(file, decoded);
            }
        }

        public void ReadText(string file, string image)
        {
            _files.Add(file);
            var decoded = ReadSidecar(file, MaxTextSidecarBytes, checkContainment: true);
            if (decoded is null)
            {
                return;
            }

            if (!decoded.IsValid)
            {
                Fail(file, "invalid UTF-8 (replaced with U+FFFD); the rest of the description was kept.", decoded.FirstInvalidLine);
            }

            var description = decoded.Text.Trim();
            if (description.Length > 0)
            {
                _descriptions[PathGuard.Normalize(image)] = Capped(file, null, Path.GetFileName(image), description);
            }
        }

        private DecodedText? ReadSidecar(string file, long maxBytes, bool checkContainment)
        {
            if (checkContainment && !PathGuard.IsContainedInAny(file, roots))
            {
                Fail(file, "The sidecar is a link to a file outside the ingested folder; it was not read.", null);
                return null;
            }

            try
            {
                return TextDecoding.Decode(RegularFiles.ReadAllBytesAsync(file, maxBytes, CancellationToken.None).GetAwaiter().GetResult());
            }
            catch (FileTooLargeException)
            {
                Fail(file, $"The sidecar is larger than the {maxBytes:N0}-byte limit; it was not read.", null);
                return null;
            }
            catch (NotARegularFileException ex)
            {
                Fail(file, $"The sidecar is not a regular file but {ex.Kind}; it was not read.", null);
                return null;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                Fail(file, $"The sidecar cannot be read ({ex.Message}).", null);
                return null;
            }
        }

        private void ReadJsonLines(string file, DecodedText decoded)
        {
            var lines = decoded.Text.Split('\n');
            for (var i = 0; i < lines.Length; i++)
            {
                var lineNumber = i + 1;
                var line = lines[i].Trim();
                if (line.Length == 0)
                {
                    continue;
                }

                if (decoded.InvalidLines.Contains(lineNumber))
                {
                    Fail(file, "invalid UTF-8; the entry was skipped.", lineNumber);
                    continue;
                }

                try
                {
                    using var json = JsonDocument.Parse(line, new JsonDocumentOptions { AllowTrailingCommas = true });
                    AddEntry(file, lineNumber, json.RootElement);
                }
                catch (JsonException ex)
                {
                    Fail(file, $"malformed JSON ({FirstSentence(ex.Message)}); the entry was skipped.", lineNumber);
                }
            }
        }

        private void ReadJsonArray(string file, DecodedText decoded)
        {
            var utf8 = Encoding.UTF8.GetBytes(decoded.Text);
            var lines = new LineCounter(utf8);
            var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
            try
            {
                if (!reader.Read() || reader.TokenType != JsonTokenType.StartArray)
                {
                    Fail(file, "expected a JSON array of {\"image_path\", \"description\"} objects.", 1);
                    return;
                }

                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    var startLine = lines.LineAt(reader.TokenStartIndex);
                    var element = JsonElement.ParseValue(ref reader);
                    var endLine = lines.LineAt(reader.TokenStartIndex);
                    if (decoded.InvalidLines.Any(l => l >= startLine && l <= endLine))
                    {
                        Fail(file, "invalid UTF-8; the entry was skipped.", startLine);
                        continue;
                    }

                    AddEntry(file, startLine, element);
                }
            }
            catch (JsonException ex)
            {
                Fail(file, $"malformed JSON ({FirstSentence(ex.Message)}); the entries after it were not read.",
                    (int)(ex.LineNumber ?? 0) + 1);
            }
        }

        private void ReadCsv(string file, DecodedText decoded)
        {
            int imageColumn = -1, descriptionColumn = -1;
            var header = true;
            foreach (var record in Csv.Parse(decoded.Text))
            {
                if (header)
                {
                    header = false;
                    for (var i = 0; i < record.Fields.Count; i++)
                    {
                        var name = record.Fields[i].Trim().TrimStart('\uFEFF');
                        if (name.Equals("image_path", StringComparison.OrdinalIgnoreCase))
                        {
                            imageColumn = i;
                        }
                        else if (name.Equals("description", StringComparison.OrdinalIgnoreCase))
                        {
                            descriptionColumn = i;
                        }
                    }

                    if (imageColumn < 0 || descriptionColumn < 0 || record.Error is not null)
                    {
                        Fail(file, "the header row must name the columns image_path and description; the file was not read.", record.StartLine);
                        return;
                    }

                    continue;
                }

                if (Enumerable.Range(record.StartLine, record.EndLine - record.StartLine + 1).Any(decoded.InvalidLines.Contains))
                {
                    Fail(file, "invalid UTF-8; the row was skipped.", record.StartLine);
                    continue;
                }

                if (record.Error is { } error)
                {
                    Fail(file, $"malformed CSV ({error}); the row was skipped.", record.StartLine);
                    continue;
                }

                if (record.Fields.Count <= Math.Max(imageColumn, descriptionColumn))
                {
                    Fail(file, $"expected at least {Math.Max(imageColumn, descriptionColumn) + 1} fields, found {record.Fields.Count}; the row was skipped.",
                        record.StartLine);
                    continue;
                }

                AddEntry(file, record.StartLine, record.Fields[imageColumn], record.Fields[descriptionColumn]);
            }
        }

        private void AddEntry(string file, int line, JsonElement element)
        {
            if (element.ValueKind != JsonValueKind.Object
                || !element.TryGetProperty("image_path", out var image) || image.ValueKind != JsonValueKind.String
                || !element.TryGetProperty("description", out var description) || description.ValueKind != JsonValueKind.String)
            {
                Fail(file, "expected an object with string fields \"image_path\" and \"description\"; the entry was skipped.", line);
                return;
            }

            AddEntry(file, line, image.GetString()!, description.GetString()!);
        }

        private void AddEntry(string file, int line, string imagePath, string description)
        {
            description = description.Trim();
            imagePath = imagePath.Trim();
            if (description.Length == 0)
            {
                return;
            }

            if (imagePath.Length == 0)
            {
                Fail(file, "empty image_path; the entry was skipped.", line);
                return;
            }

            if (!OperatingSystem.IsWindows())
            {
                imagePath = imagePath.Replace('\\', '/');
            }

            string combined;
            try
            {
                combined = Path.Combine(Path.GetDirectoryName(file) ?? string.Empty, imagePath);
                _ = Path.GetFullPath(combined);
            }
            catch (Exception ex) when (ex is ArgumentException or NotSupportedException or PathTooLongException)
            {
                Fail(file, $"image_path '{imagePath}' is not a valid path; the entry was skipped.", line);
                return;
            }

            if (!PathGuard.IsContainedInAny(combined, roots))
            {
                Fail(file, $"image_path '{imagePath}' leads outside the ingested folder; the entry was ignored.", line);
                return;
            }

            var image = PathGuard.Normalize(combined);
            if (!File.Exists(image))
            {
                Fail(file, $"image_path '{imagePath}' names no file; the entry was ignored.", line);
                return;
            }

            _descriptions[image] = Capped(file, line, imagePath, description);
        }

        /// <summary>The description, cut to the limit (and reported) when longer.</summary>
        private string Capped(string file, int? line, string image, string description)
        {
            if (description.Length <= maxDescriptionLength)
            {
                return description;
            }

            var length = char.IsHighSurrogate(description[maxDescriptionLength - 1]) ? maxDescriptionLength - 1 : maxDescriptionLength;
            Fail(file, $"the description of '{image}' has {description.Length:N0} characters; only the first {length:N0} were kept (MaxDescriptionLength).", line);
            return description[..length].TrimEnd();
        }

        private static string FirstSentence(string message)
        {
            var end = message.IndexOf(". ", StringComparison.Ordinal);
            return end < 0 ? message.TrimEnd('.') : message[..end];
        }
    }

    /// <summary>Maps increasing byte offsets to 1-based line numbers without rescanning.</summary>
    private sealed class LineCounter(byte[] bytes)
    {
        private long _offset;
        private int _line = 1;

        public int LineAt(long offset)
        {
            for (; _offset < offset && _offset < bytes.Length; _offset++)
            {
                if (bytes[_offset] == (byte)'\n')
                {
                    _line++;
                }
            }

            return _line;
        }
    }
}
