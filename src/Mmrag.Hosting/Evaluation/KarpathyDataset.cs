using System.Globalization;
using System.Text.Json;
using Mmrag.Ingestion.Loaders;

namespace Mmrag.Hosting.Evaluation;

/// <summary>One image of a Karpathy split with its captions.</summary>
/// <param name="ImageId">The entry's <c>imgid</c>.</param>
/// <param name="ImagePath">The image file's full path, inside the images folder.</param>
/// <param name="Captions">Its captions (<c>sentences[].raw</c>), line breaks folded into spaces.</param>
public sealed record KarpathyImage(long ImageId, string ImagePath, IReadOnlyList<string> Captions);

/// <summary>The images of one split of a Karpathy-split annotations file (<see cref="KarpathyDataset.LoadAsync"/>).</summary>
/// <param name="Dataset">The dataset it was read as (<c>flickr30k</c> or <c>coco</c>).</param>
/// <param name="Split">The split taken (<c>test</c>).</param>
/// <param name="Images">Its images, in file order (the first <see cref="KarpathyReadOptions.Limit"/> when limited).</param>
/// <param name="Entries">How many entries the file holds, every split counted.</param>
/// <param name="SplitSize">How many entries of the split the file holds (more than <paramref name="Images"/> when limited).</param>
public sealed record KarpathySplit(string Dataset, string Split, IReadOnlyList<KarpathyImage> Images, int Entries, int SplitSize)
{
    /// <summary>The number of captions over every image.</summary>
    public int CaptionCount => Images.Sum(static i => i.Captions.Count);
}

/// <summary>Limits and choices of <see cref="KarpathyDataset.LoadAsync"/>.</summary>
public sealed record KarpathyReadOptions
{
    /// <summary>The split taken (default <c>test</c>: 1,000 images in Flickr30k, 5,000 in MSCOCO).</summary>
    public string Split { get; init; } = "test";

    /// <summary>Take only the first this many images of the split (null: all).</summary>
    public int? Limit { get; init; }

    /// <summary>The largest single entry of <c>images</c> (and any other top-level value), in bytes; real entries are about 2 KB.</summary>
    public int MaxEntryBytes { get; init; } = 1024 * 1024;

    /// <summary>The deepest nesting accepted (the format needs 6: file, images, entry, sentences, sentence, tokens).</summary>
    public int MaxDepth { get; init; } = 16;

    /// <summary>The most images taken from the split.</summary>
    public int MaxImages { get; init; } = 200_000;

    /// <summary>The most captions of one image (the datasets have 5, a few MSCOCO images 6 or 7).</summary>
    public int MaxCaptionsPerImage { get; init; } = 100;

    /// <summary>The longest caption, in characters.</summary>
    public int MaxCaptionLength { get; init; } = 4096;
}

/// <summary>
/// Reads the Karpathy-split caption files of Flickr30k and MSCOCO (<c>dataset_flickr30k.json</c>,
/// <c>dataset_coco.json</c>): <c>{"images": [{"filename", "filepath" (MSCOCO), "split", "imgid", "sentences": [{"raw", …}], …}],
/// "dataset"}</c>. The file is streamed entry by entry through a bounded buffer, so the 150 MB MSCOCO file costs one
/// entry's size in memory, not its own; every entry is checked, and only those of the chosen split are kept. Image
/// paths are confined to the images folder: a <c>filename</c> or <c>filepath</c> leading out of it (<c>..</c>, an
/// absolute path, a symbolic link) is refused, as is a missing image. Stateless and thread-safe.
/// </summary>
public static class KarpathyDataset
{
    /// <summary>The datasets read: <c>flickr30k</c> and <c>coco</c>.</summary>
    public static IReadOnlyList<string> Names { get; } = ["flickr30k", "coco"];

    private const int ReadSize = 64 * 1024;

    /// <summary>Reads the <see cref="KarpathyReadOptions.Split"/> entries of <paramref name="annotationsPath"/>, with their images under <paramref name="imagesFolder"/>.</summary>
    /// <param name="annotationsPath">The Karpathy-split JSON file.</param>
    /// <param name="imagesFolder">
    /// The folder holding the images: an image is looked for at <c>filepath/filename</c> under it, then (for a folder
    /// that is itself e.g. <c>val2014</c>) at <c>filename</c>.
    /// </param>
    /// <param name="dataset">Which dataset the file must be (<see cref="Names"/>); a file naming another is refused.</param>
    /// <param name="options">Limits; the defaults take the whole test split.</param>
    /// <param name="cancellationToken">Stops the reading.</param>
    /// <exception cref="ArgumentException"><paramref name="dataset"/> is not one of <see cref="Names"/>.</exception>
    /// <exception cref="InvalidDataException">The file is not in the format, or an entry is malformed or names a path outside the images folder; the message names the file and the entry.</exception>
    /// <exception cref="IOException">A file cannot be read, the images folder does not exist, or an image of the split is missing.</exception>
    public static async Task<KarpathySplit> LoadAsync(string annotationsPath, string imagesFolder, string dataset, KarpathyReadOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(annotationsPath);
        ArgumentException.ThrowIfNullOrWhiteSpace(imagesFolder);
        ArgumentException.ThrowIfNullOrWhiteSpace(dataset);
        if (!Names.Contains(dataset, StringComparer.Ordinal))
        {
            throw new ArgumentException($"The dataset must be one of {string.Join(", ", Names)}, not '{dataset}'.", nameof(dataset));
        }

        options ??= new KarpathyReadOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxEntryBytes, 1024, "options.MaxEntryBytes");
        var images = Path.GetFullPath(imagesFolder);
        if (!Directory.Exists(images))
        {
            throw new DirectoryNotFoundException($"The images folder '{images}' does not exist.");
        }

        var path = Path.GetFullPath(annotationsPath);
        var parser = new Parser(path, images, dataset, options);
        var stream = RegularFiles.OpenRead(path);
        await using (stream.ConfigureAwait(false))
        {
            var buffer = new byte[Math.Min(ReadSize, options.MaxEntryBytes)];
            int start = 0, end = 0;
            var final = false;
            var state = new JsonReaderState(new JsonReaderOptions { MaxDepth = options.MaxDepth });
            var bomChecked = false;
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (!final)
                {
                    var read = await stream.ReadAsync(buffer.AsMemory(end), cancellationToken).ConfigureAwait(false);
                    final = read == 0;
                    end += read;
                }

                if (!bomChecked && (end >= 3 || final))
                {
                    // A UTF-8 byte order mark, which the JSON reader does not skip.
                    start = end >= 3 && buffer.AsSpan(0, 3).SequenceEqual((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]) ? 3 : 0;
                    bomChecked = true;
                }
                if (parser.Parse(buffer.AsSpan(start, end - start), final, ref state, out var consumed))
                {
                    break;
                }

                start += consumed;
                if (final)
                {
                    throw parser.Invalid(end - start == 0 ? "the file ends before its JSON does" : "the file ends inside a value");
                }

                if (start > 0)
                {
                    // The unfinished unit moves to the front; the next read fills the room behind it.
                    buffer.AsSpan(start, end - start).CopyTo(buffer);
                    end -= start;
                    start = 0;
                }
                else if (end == buffer.Length)
                {
                    // One unit (an entry, or another top-level value) fills the whole buffer: grow it, up to the limit.
                    if (buffer.Length >= options.MaxEntryBytes)
                    {
                        throw parser.Invalid($"{parser.Where} is larger than {options.MaxEntryBytes:N0} bytes (KarpathyReadOptions.MaxEntryBytes)");
                    }

                    Array.Resize(ref buffer, (int)Math.Min((long)buffer.Length * 2, options.MaxEntryBytes));
                }
            }
        }

        return parser.Result();
    }

    /// <summary>
    /// The streaming state machine: <see cref="Parse"/> takes whole units (a token, a whole entry, a whole skipped
    /// value) from the buffer and reports how far it got; a unit cut off by the buffer's end is left for the next call.
    /// </summary>
    private sealed class Parser(string path, string imagesFolder, string dataset, KarpathyReadOptions options)
    {
        private readonly List<KarpathyImage> _images = [];
        private readonly HashSet<long> _imageIds = [];
        private readonly HashSet<string> _imagePaths = new(StringComparer.Ordinal);
        private Stage _stage = Stage.Start;
        private string? _datasetName;
        private bool _sawImages;
        private int _entries;
        private int _splitSize;

        private enum Stage
        {
            Start,
            Root,
            Images,
            Done,
        }

        /// <summary>What is being read, for messages: "entry 12 of \"images\"" or "the top level".</summary>
        public string Where => _stage == Stage.Images
            ? string.Create(CultureInfo.InvariantCulture, $"entry {_entries + 1} of \"images\"")
            : "a top-level value";

        public InvalidDataException Invalid(string reason, Exception? inner = null) => new($"{path}: {reason}.", inner);

        private InvalidDataException NotKarpathy(string reason) => Invalid($"not a Karpathy-split caption file ({reason})");

        public bool Parse(ReadOnlySpan<byte> data, bool final, ref JsonReaderState state, out int consumed)
        {
            var reader = new Utf8JsonReader(data, final, state);
            var checkpoint = 0L;
            var checkpointState = state;
            try
            {
                while (_stage != Stage.Done && Step(ref reader, data))
                {
                    checkpoint = reader.BytesConsumed;
                    checkpointState = reader.CurrentState;
                }
            }
            catch (JsonException ex)
            {
                throw Invalid(string.Create(CultureInfo.InvariantCulture, $"{Where}: not valid JSON: {ex.Message}"), ex);
            }

            consumed = (int)checkpoint;
            state = checkpointState;
            return _stage == Stage.Done;
        }

        /// <summary>Takes one unit; false when the data ends inside it.</summary>
        private bool Step(ref Utf8JsonReader reader, ReadOnlySpan<byte> data)
        {
            if (!reader.Read())
            {
                return false;
            }

            switch (_stage)
            {
                case Stage.Start:
                    if (reader.TokenType != JsonTokenType.StartObject)
                    {
                        throw NotKarpathy("it does not start with a JSON object");
                    }

                    _stage = Stage.Root;
                    return true;

                case Stage.Root when reader.TokenType == JsonTokenType.EndObject:
                    _stage = Stage.Done;
                    return true;

                case Stage.Root:
                    var name = reader.GetString();
                    if (!reader.Read())
                    {
                        return false;
                    }

                    if (name == "images")
                    {
                        if (reader.TokenType != JsonTokenType.StartArray)
                        {
                            throw NotKarpathy("\"images\" is not an array");
                        }

                        _sawImages = true;
                        _stage = Stage.Images;
                        return true;
                    }

                    if (name == "dataset" && reader.TokenType == JsonTokenType.String)
                    {
                        _datasetName = reader.GetString();
                        return true;
                    }

                    return reader.TrySkip();

                case Stage.Images when reader.TokenType == JsonTokenType.EndArray:
                    _stage = Stage.Root;
                    return true;

                case Stage.Images when reader.TokenType == JsonTokenType.StartObject:
                    var entryStart = (int)reader.TokenStartIndex;
                    if (!reader.TrySkip())
                    {
                        return false;
                    }

                    Entry(data[entryStart..(int)reader.BytesConsumed]);
                    _entries++;
                    return true;

                case Stage.Images:
                    throw Invalid($"{Where} is not an object");

                default:
                    throw new InvalidOperationException($"Unexpected stage {_stage}.");
            }
        }

        private void Entry(ReadOnlySpan<byte> json)
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = options.MaxDepth });
            using var document = JsonDocument.ParseValue(ref reader);
            var entry = document.RootElement;
            var imgid = entry.TryGetProperty("imgid", out var idValue) && idValue.ValueKind == JsonValueKind.Number && idValue.TryGetInt64(out var id) ? id : (long?)null;
            var where = imgid is null ? Where : string.Create(CultureInfo.InvariantCulture, $"{Where} (imgid {imgid})");
            InvalidDataException Bad(string reason) => Invalid($"{where}: {reason}");

            var filename = String(entry, "filename") ?? throw Bad("\"filename\" is missing or not a string");
            var filepath = entry.TryGetProperty("filepath", out var filepathValue) && filepathValue.ValueKind != JsonValueKind.Null
                ? String(entry, "filepath") ?? throw Bad("\"filepath\" is not a string")
                : null;
            var split = String(entry, "split") ?? throw Bad("\"split\" is missing or not a string");
            if (imgid is null)
            {
                throw Bad("\"imgid\" is missing or not an integer");
            }

            if (!entry.TryGetProperty("sentences", out var sentences) || sentences.ValueKind != JsonValueKind.Array)
            {
                throw Bad("\"sentences\" is missing or not an array");
            }

            var captions = new List<string>(5);
            foreach (var sentence in sentences.EnumerateArray())
            {
                var raw = sentence.ValueKind == JsonValueKind.Object ? String(sentence, "raw") : null;
                if (string.IsNullOrWhiteSpace(raw))
                {
                    throw Bad(string.Create(CultureInfo.InvariantCulture, $"sentence {captions.Count + 1} has no \"raw\" caption"));
                }

                if (raw.Length > options.MaxCaptionLength)
                {
                    throw Bad(string.Create(CultureInfo.InvariantCulture,
                        $"sentence {captions.Count + 1} is longer than {options.MaxCaptionLength:N0} characters (KarpathyReadOptions.MaxCaptionLength)"));
                }

                captions.Add(string.Join(' ', raw.Split((char[])['\r', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)));
            }

            if (!string.Equals(split, options.Split, StringComparison.Ordinal))
            {
                return;
            }

            _splitSize++;
            if (options.Limit is { } limit && _images.Count >= limit)
            {
                return;
            }

            if (captions.Count == 0 || captions.Count > options.MaxCaptionsPerImage)
            {
                throw Bad(string.Create(CultureInfo.InvariantCulture, $"it has {captions.Count} captions (1 to {options.MaxCaptionsPerImage} expected)"));
            }

            if (_images.Count >= options.MaxImages)
            {
                throw Bad(string.Create(CultureInfo.InvariantCulture, $"the split has more than {options.MaxImages:N0} images (KarpathyReadOptions.MaxImages)"));
            }

            if (!_imageIds.Add(imgid.Value))
            {
                throw Bad("another entry of the split has the same imgid");
            }

            var image = ImagePath(filename, filepath, where);
            if (!_imagePaths.Add(image))
            {
                throw Bad($"another entry of the split names the same image '{image}'");
            }

            _images.Add(new KarpathyImage(imgid.Value, image, captions));
        }

        /// <summary>The image's full path: <c>filepath/filename</c> under the folder, else <c>filename</c>; refused when it would leave the folder.</summary>
        private string ImagePath(string filename, string? filepath, string where)
        {
            InvalidDataException Refused(string reason) => Invalid($"{where}: {reason}; refused");

            if (filename.Length == 0 || filename is "." or ".." || filename.IndexOfAny(['/', '\\', '\0']) >= 0 || Path.IsPathRooted(filename))
            {
                throw Refused($"\"filename\" '{filename}' is not a plain file name");
            }

            var candidates = new List<string>(2);
            if (!string.IsNullOrEmpty(filepath))
            {
                if (Path.IsPathRooted(filepath) || filepath.Contains('\0', StringComparison.Ordinal)
                    || filepath.Split('/', '\\').Any(static part => part == ".."))
                {
                    throw Refused($"\"filepath\" '{filepath}' leads out of the images folder");
                }

                candidates.Add(Path.GetFullPath(Path.Combine(imagesFolder, filepath, filename)));
            }

            candidates.Add(Path.GetFullPath(Path.Combine(imagesFolder, filename)));
            foreach (var candidate in candidates)
            {
                if (!PathGuard.IsContained(candidate, imagesFolder))
                {
                    throw Refused($"'{candidate}' is outside the images folder '{imagesFolder}' (through a symbolic link)");
                }

                if (File.Exists(candidate))
                {
                    return candidate;
                }
            }

            var named = string.IsNullOrEmpty(filepath) ? filename : $"{filepath}/{filename}";
            throw new FileNotFoundException($"{path}: {where}: the image '{named}' is not in the images folder '{imagesFolder}'.", candidates[0]);
        }

        private static string? String(JsonElement element, string name) =>
            element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

        public KarpathySplit Result()
        {
            if (!_sawImages)
            {
                throw NotKarpathy("it has no \"images\" array");
            }

            if (_datasetName is not null && !string.Equals(_datasetName, dataset, StringComparison.OrdinalIgnoreCase))
            {
                throw Invalid($"it is the '{_datasetName}' dataset, not '{dataset}'");
            }

            if (_images.Count == 0)
            {
                throw Invalid($"it has no entry in the '{options.Split}' split");
            }

            return new KarpathySplit(dataset, options.Split, _images, _entries, _splitSize);
        }
    }
}
