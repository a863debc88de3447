using System.Diagnostics;
using Microsoft.Extensions.AI;
using Mmrag.Clip.Inference;
using Mmrag.Hosting.Feedback;
using Mmrag.Ingestion.Loaders;
using Mmrag.Ingestion.Pipeline;
using Mmrag.Knowledge;
using Mmrag.Storage;
using Mmrag.Storage.Embedded;

namespace Mmrag.Hosting.Maintenance;

/// <summary>What a re-embed did.</summary>
/// <param name="Documents">Documents carried into the new embedding space.</param>
/// <param name="Items">Items re-embedded (text, descriptions, tags, provenance and files kept).</param>
/// <param name="Failures">Failure records carried over.</param>
/// <param name="Model">The new model's id.</param>
/// <param name="Elapsed">How long it took.</param>
public sealed record ReembedSummary(int Documents, int Items, int Failures, string Model, TimeSpan Elapsed);

/// <summary>
/// Moves an embedded knowledge base to another model: every item keeps its id, text, description, tags and provenance
/// and gets a vector from the new model (text from its text, images from their stored file), so nothing depends on
/// the source files still being where they were. The new store is built beside the old one and swapped in only when
/// complete (<see cref="ReembedSwap"/>); an interrupted re-embed leaves the old knowledge base untouched.
/// </summary>
public static class KnowledgeBaseReembed
{
    /// <summary>
    /// Re-embeds the embedded knowledge base <paramref name="options"/> names with the model
    /// <see cref="MmragOptions.Model"/>. Refuses, before changing anything, when an image's file is gone (it cannot be
    /// re-embedded), naming the files.
    /// </summary>
    /// <exception cref="ArgumentException">No model given.</exception>
    /// <exception cref="NotSupportedException">A PostgreSQL knowledge base.</exception>
    /// <exception cref="KnowledgeStoreException">No knowledge base there, or items that cannot be carried.</exception>
    public static async Task<ReembedSummary> RunAsync(MmragOptions options, IProgress<int>? documentsDone = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrWhiteSpace(options.Model))
        {
            throw new ArgumentException("Re-embedding needs the new model (--model NAME|DIR).", nameof(options));
        }

        if (options.IsPostgres)
        {
            throw new NotSupportedException("Re-embedding works on embedded knowledge bases; for PostgreSQL, re-embed an embedded copy and migrate it ('mmrag kb migrate').");
        }

        var started = Stopwatch.GetTimestamp();
        var folder = options.ResolveFolder();
        ReembedSwap.RecoverIfInterrupted(folder);
        if (!File.Exists(Path.Combine(folder, EmbeddedKnowledgeStore.DatabaseFileName)))
        {
            throw new KnowledgeStoreException($"No knowledge base at '{folder}'.");
        }

        var staging = Path.Combine(folder, ReembedSwap.StagingFolderName);
        using var model = await ModelLoading.LoadAsync(options.Model, options, cancellationToken).ConfigureAwait(false);
        KnowledgeStoreTransferSummary copied;
        var old = await EmbeddedKnowledgeStore.OpenExistingAsync(folder, cancellationToken: cancellationToken).ConfigureAwait(false);
        await using (old.ConfigureAwait(false))
        {
            await RefuseUncarriableAsync(old, cancellationToken).ConfigureAwait(false);
            // No journal: whatever is in the staging folder is an earlier attempt that never completed.
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging, recursive: true);
            }

            using var texts = new ClipTextEmbeddingGenerator(model);
            using var images = new ClipImageEmbeddingGenerator(model);
            var fresh = await EmbeddedKnowledgeStore.OpenAsync(staging, new EmbeddingSpace(model.ModelId, model.Dimension),
                cancellationToken: cancellationToken).ConfigureAwait(false);
            await using var freshScope = fresh.ConfigureAwait(false);
            copied = await KnowledgeStoreTransfer.CopyAsync(old, fresh,
                (_, items, token) => ReembedItemsAsync(items, texts, images, token), documentsDone, cancellationToken).ConfigureAwait(false);
            await FeedbackTransfer.CopyAsync(old, fresh, texts, cancellationToken).ConfigureAwait(false);
        }

        ReembedSwap.Run(folder, ModelLoading.RecordFor(options.Model));
        return new ReembedSummary(copied.Documents, copied.Items, copied.Failures, model.ModelId, Stopwatch.GetElapsedTime(started));
    }

    /// <summary>Every image item needs its file (the cached copy or its source) to be re-embedded; refuses naming those that have none.</summary>
    private static async Task RefuseUncarriableAsync(IKnowledgeStore store, CancellationToken cancellationToken)
    {
        List<string> missing = [];
        await foreach (var document in store.ListDocumentsAsync(cancellationToken).ConfigureAwait(false))
        {
            foreach (var item in await KnowledgeStoreTransfer.ReadItemsAsync(store, document, cancellationToken).ConfigureAwait(false))
            {
                if (item.Kind == ItemKind.Image && ImageFileOf(item) is null)
                {
                    missing.Add(item.ImagePath ?? item.Provenance.SourcePath);
                }
            }
        }

        if (missing.Count > 0)
        {
            throw new KnowledgeStoreException(
                $"Nothing was changed: {missing.Count} image(s) cannot be re-embedded because their files are gone ({string.Join(", ", missing.Take(5))}{(missing.Count > 5 ? ", …" : "")}). "
                + "Restore them, or remove their documents with 'mmrag kb delete --path …', then re-embed.");
        }
    }

    private static string? ImageFileOf(KnowledgeItem item) =>
        new[] { item.ImagePath, item.Provenance.SourcePath }.FirstOrDefault(static path => path is not null && File.Exists(path));

    private static async Task<IReadOnlyList<KnowledgeItem>> ReembedItemsAsync(IReadOnlyList<KnowledgeItem> items,
        IEmbeddingGenerator<string, Embedding<float>> texts, IEmbeddingGenerator<DataContent, Embedding<float>> images, CancellationToken cancellationToken)
    {
        var result = new KnowledgeItem[items.Count];
        var textIndexes = Enumerable.Range(0, items.Count).Where(i => items[i].Kind != ItemKind.Image).ToList();
        var imageIndexes = Enumerable.Range(0, items.Count).Where(i => items[i].Kind == ItemKind.Image).ToList();
        foreach (var batch in textIndexes.Chunk(32))
        {
            var vectors = await texts.GenerateAsync(batch.Select(i => items[i].Text), cancellationToken: cancellationToken).ConfigureAwait(false);
            for (var j = 0; j < batch.Length; j++)
            {
                result[batch[j]] = items[batch[j]] with { Vector = vectors[j].Vector };
            }
        }

        foreach (var batch in imageIndexes.Chunk(16))
        {
            List<DataContent> contents = [];
            foreach (var i in batch)
            {
                var file = ImageFileOf(items[i]) ?? throw new KnowledgeStoreException($"The image file of '{items[i].Provenance.SourcePath}' is gone.");
                contents.Add(new DataContent(await RegularFiles.ReadAllBytesAsync(file, new IngestionOptions().MaxFileBytes, cancellationToken).ConfigureAwait(false),
                    "application/octet-stream") { Name = file });
            }

            var vectors = await images.GenerateAsync(contents, cancellationToken: cancellationToken).ConfigureAwait(false);
            for (var j = 0; j < batch.Length; j++)
            {
                result[batch[j]] = items[batch[j]] with { Vector = vectors[j].Vector };
            }
        }

        return result;
    }
}
