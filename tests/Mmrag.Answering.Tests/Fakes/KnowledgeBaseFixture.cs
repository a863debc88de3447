using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.AI;
using Mmrag.Clip.Inference;
using Mmrag.Knowledge;
using Mmrag.Retrieval.Search;
using Mmrag.Storage.Embedded;

namespace Mmrag.Answering.Tests.Fakes;

/// <summary>The shared CLIP fixtures (see <see cref="Mmrag.Testing.ClipFixtureLocator"/>).</summary>
internal static class ClipFixtures
{
    public static string ModelDirectory => Mmrag.Testing.ClipFixtureLocator.ModelDirectory;

    public static string ImagePath(string file) => Mmrag.Testing.ClipFixtureLocator.ImagePath(file);
}

/// <summary>
/// A real embedded knowledge base (SQLite + index) built with the tiny CLIP model (random weights: similarities mean
/// nothing, so tests use threshold 0 and a large k, or exact keyword matches): a manual with two text chunks and six
/// images, five of them described. One per test class; read-only for the tests.
/// </summary>
public sealed class KnowledgeBaseFixture : IAsyncLifetime
{
    public const string KeywordImage = "photo_800x600.jpg";
    public const string UndescribedImage = "noise_224x224.png";
    public const string KeywordImageDescription = "A red zanzibar kettle on a kitchen counter; the label says 1.7 L.";
    public const string CapacityChunk = "The X100 kettle holds 1.7 litres of water.";

    public static readonly (string File, int Width, int Height, string? Description)[] Images =
    [
        (KeywordImage, 800, 600, KeywordImageDescription),
        ("wide_2000x300.jpg", 2000, 300, "A wide panorama of a harbour at dawn."),
        ("tall_100x1000.png", 100, 1000, "A tall narrow lighthouse."),
        ("checker_fine_1024x768.png", 1024, 768, "A fine checkerboard floor."),
        ("gradient_640x480.png", 640, 480, "A colour gradient test card."),
        (UndescribedImage, 224, 224, null),
    ];

    internal static ClipModel SharedModel => Model.Value;

    private static readonly Lazy<ClipModel> Model = new(() => ClipModel.Load(ClipFixtures.ModelDirectory, new ClipModelOptions { IntraOpThreads = 1 }));

    private readonly string _folder = Path.Combine(Path.GetTempPath(), "mmrag-answering-tests-" + Guid.NewGuid().ToString("N"));
    private ClipTextEmbeddingGenerator? _text;
    private ClipImageEmbeddingGenerator? _images;

    public EmbeddedKnowledgeStore Store { get; private set; } = null!;

    public KnowledgeSearcher Searcher { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var model = Model.Value;
        _text = new ClipTextEmbeddingGenerator(model);
        _images = new ClipImageEmbeddingGenerator(model);
        Store = await EmbeddedKnowledgeStore.OpenAsync(_folder, new EmbeddingSpace(model.ModelId, model.Dimension));

        string[] chunks = [CapacityChunk, "Descale the kettle monthly with citric acid."];
        var chunkVectors = await _text.GenerateAsync(chunks);
        const string manual = "/kb/x100-manual.md";
        var chunkItems = chunks.Select((c, i) => new KnowledgeItem
        {
            Id = $"manual#{i}",
            DocumentId = "manual",
            Kind = ItemKind.TextChunk,
            ContentHash = Hash(Encoding.UTF8.GetBytes(c)),
            Text = c,
            Provenance = new Provenance(manual, "X100 manual", Page: i + 1, Section: "Specifications", Position: i),
            Vector = chunkVectors[i].Vector,
        }).ToList();
        await Store.UpsertDocumentAsync(new DocumentRecord("manual", manual, Hash(Encoding.UTF8.GetBytes(string.Concat(chunks))), "text/markdown",
            "X100 manual", chunkItems.Count, DateTimeOffset.UtcNow), chunkItems);

        foreach (var (file, _, _, description) in Images)
        {
            var path = ClipFixtures.ImagePath(file);
            var bytes = await File.ReadAllBytesAsync(path);
            var vector = (await _images.GenerateAsync([new DataContent(bytes, MediaType(file))]))[0].Vector;
            var id = "img-" + Path.GetFileNameWithoutExtension(file);
            var item = new KnowledgeItem
            {
                Id = id + "#0",
                DocumentId = id,
                Kind = ItemKind.Image,
                ContentHash = Hash(bytes),
                Text = description ?? string.Empty,
                Description = description,
                ImagePath = path,
                Provenance = new Provenance(path),
                Vector = vector,
            };
            await Store.UpsertDocumentAsync(new DocumentRecord(id, path, item.ContentHash, MediaType(file), null, 1, DateTimeOffset.UtcNow), [item]);
        }

        Searcher = new KnowledgeSearcher(Store, _text, _images);
    }

    public async Task DisposeAsync()
    {
        await Store.DisposeAsync();
        _text?.Dispose();
        _images?.Dispose();
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    public static (int Width, int Height) SizeOf(string imagePath)
    {
        var entry = Images.Single(i => imagePath.EndsWith(i.File, StringComparison.Ordinal));
        return (entry.Width, entry.Height);
    }

    private static string Hash(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    private static string MediaType(string file) => Path.GetExtension(file) switch
    {
        ".jpg" => "image/jpeg",
        ".png" => "image/png",
        _ => "application/octet-stream",
    };
}
