using System.Text;
using Microsoft.Extensions.AI;
using Mmrag.Clip.Inference;
using Mmrag.Knowledge;
using Mmrag.Retrieval.Search;
using Mmrag.Storage;

namespace Mmrag.Retrieval.Tests.EndToEnd;

/// <summary>The shared CLIP fixtures (see <see cref="Mmrag.Testing.ClipFixtureLocator"/>).</summary>
internal static class ClipFixtures
{
    public static string Directory => Mmrag.Testing.ClipFixtureLocator.Directory;

    public static string ModelDirectory => Mmrag.Testing.ClipFixtureLocator.ModelDirectory;

    public static string ImagePath(string file) => Mmrag.Testing.ClipFixtureLocator.ImagePath(file);
}

/// <summary>
/// Real fixture images and hand-written text chunks embedded once per test run with the tiny CLIP model (random
/// weights: similarities carry no meaning, but the geometry is a real CLIP's), ready to be stored in any backend.
/// </summary>
internal sealed class ClipKnowledge
{
    public const string LighthouseImage = "photo_800x600.jpg";

    private static readonly Lazy<ClipModel> Model = new(() => ClipModel.Load(ClipFixtures.ModelDirectory, new ClipModelOptions { IntraOpThreads = 1 }));
    private static readonly Lazy<Task<ClipKnowledge>> Shared = new(CreateAsync);

    private static readonly string[] ImageFiles =
    [
        "photo_800x600.jpg", "gradient_640x480.png", "gradient_480x640.png", "checker_225x224.png", "checker_fine_1024x768.png",
        "document_612x792.png", "noise_224x224.png", "rgba_320x240.png", "smooth_1000x200.webp", "stripes_257x256.bmp",
        "tall_100x1000.png", "wide_2000x300.jpg", "gray_L_300x400.png", "palette_P_256x192.gif", "black_300x224.png", "bmp_333x222.bmp",
    ];

    public static readonly string[] ChunkTexts =
    [
        "The harbour master keeps a log of every ship that enters the bay.",
        "Quarterly revenue grew by eight percent compared with last year.",
        "A recipe for sourdough bread needs flour, water, salt and patience.",
        "The museum opens at nine and closes at five on weekdays.",
        "Glaciers carve deep valleys over thousands of years.",
        "Install the package, then run the migration before starting the server.",
        "Two people are sitting next to a campfire under the stars.",
        "The committee approved the budget after a long debate.",
        "Bees communicate the location of flowers by dancing.",
        "A man riding a bicycle down a busy city street.",
        "The library lends books, maps and old newspapers.",
        "Volcanic soil is rich in minerals and good for vineyards.",
    ];

    private ClipKnowledge(IEmbeddingGenerator<string, Embedding<float>> text, IEmbeddingGenerator<DataContent, Embedding<float>> images,
        EmbeddingSpace space, IReadOnlyList<KnowledgeItem> items, IReadOnlyDictionary<string, DataContent> contents)
    {
        TextGenerator = text;
        ImageGenerator = images;
        Space = space;
        Items = items;
        Contents = contents;
    }

    public IEmbeddingGenerator<string, Embedding<float>> TextGenerator { get; }

    public IEmbeddingGenerator<DataContent, Embedding<float>> ImageGenerator { get; }

    public EmbeddingSpace Space { get; }

    /// <summary>Images (ids = file names) then chunks (ids chunk-00 …).</summary>
    public IReadOnlyList<KnowledgeItem> Items { get; }

    /// <summary>Each image's bytes by file name.</summary>
    public IReadOnlyDictionary<string, DataContent> Contents { get; }

    public IEnumerable<KnowledgeItem> Images => Items.Where(i => i.Kind == ItemKind.Image);

    public IEnumerable<KnowledgeItem> Chunks => Items.Where(i => i.Kind == ItemKind.TextChunk);

    public static Task<ClipKnowledge> GetAsync() => Shared.Value;

    public async Task<float[]> EmbedTextAsync(string text) => (await TextGenerator.GenerateVectorAsync(text)).ToArray();

    public async Task<float[]> EmbedImageAsync(DataContent image) => (await ImageGenerator.GenerateVectorAsync(image)).ToArray();

    /// <summary>Stores every item in <paramref name="store"/> (images one document each, chunks in one document), plus <paramref name="extra"/>.</summary>
    public async Task FillAsync(IKnowledgeStore store, IEnumerable<KnowledgeItem>? extra = null)
    {
        foreach (var group in Items.Concat(extra ?? []).GroupBy(i => i.DocumentId))
        {
            var first = group.First();
            var record = new DocumentRecord(group.Key, first.Provenance.SourcePath, first.ContentHash,
                first.Kind == ItemKind.Image ? "image/*" : "text/plain", first.Provenance.DocumentTitle, group.Count(), DateTimeOffset.UnixEpoch);
            await store.UpsertDocumentAsync(record, [.. group]);
        }
    }

    private static async Task<ClipKnowledge> CreateAsync()
    {
        var model = Model.Value;
        var text = new ClipTextEmbeddingGenerator(model);
        var images = new ClipImageEmbeddingGenerator(model);
        var contents = new Dictionary<string, DataContent>(StringComparer.Ordinal);
        foreach (var file in ImageFiles)
        {
            contents[file] = new DataContent(await File.ReadAllBytesAsync(ClipFixtures.ImagePath(file)), MediaType(file)) { Name = file };
        }

        var imageVectors = await images.GenerateAsync(ImageFiles.Select(f => contents[f]));
        var chunkVectors = await text.GenerateAsync(ChunkTexts);
        var items = new List<KnowledgeItem>();
        for (var i = 0; i < ImageFiles.Length; i++)
        {
            var file = ImageFiles[i];
            var path = ClipFixtures.ImagePath(file);
            var description = file == LighthouseImage ? "A lighthouse on a rocky coast at dusk" : $"Test pattern {Path.GetFileNameWithoutExtension(file)}";
            items.Add(new KnowledgeItem
            {
                Id = file,
                DocumentId = "image:" + file,
                Kind = ItemKind.Image,
                ContentHash = SearchRequest.ComputeContentHash(contents[file].Data.Span),
                Text = description,
                Description = description,
                ImagePath = path,
                Provenance = new Provenance(path),
                Vector = imageVectors[i].Vector,
            });
        }

        for (var i = 0; i < ChunkTexts.Length; i++)
        {
            items.Add(new KnowledgeItem
            {
                Id = $"chunk-{i:00}",
                DocumentId = "notes",
                Kind = ItemKind.TextChunk,
                ContentHash = SearchRequest.ComputeContentHash(Encoding.UTF8.GetBytes(ChunkTexts[i])),
                Text = ChunkTexts[i],
                Provenance = new Provenance("/kb/notes.txt", "Notes", Position: i),
                Vector = chunkVectors[i].Vector,
            });
        }

        return new ClipKnowledge(text, images, new EmbeddingSpace(model.ModelId, model.Dimension), items, contents);
    }

    private static string MediaType(string file) => Path.GetExtension(file) switch
    {
        ".jpg" => "image/jpeg",
        ".png" => "image/png",
        ".webp" => "image/webp",
        ".bmp" => "image/bmp",
        ".gif" => "image/gif",
        var other => throw new ArgumentException($"No media type for {other}.", nameof(file)),
    };
}
