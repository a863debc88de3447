using Mmrag.Clip.Inference;
using Mmrag.Clip.Models;

namespace Mmrag.Hosting;

/// <summary>Turns a model name or folder into a loaded <see cref="ClipModel"/>: the one place that resolves, downloads and records models.</summary>
public static class ModelLoading
{
    /// <summary>
    /// The model folder for <paramref name="nameOrPath"/> (else <c>MMRAG_MODEL</c>, else the default model): a local
    /// folder as given, or a catalogue model from the cache, downloaded first when missing and allowed.
    /// </summary>
    public static async Task<string> ResolveDirectoryAsync(string? nameOrPath, MmragOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        nameOrPath ??= Environment.GetEnvironmentVariable(MmragOptions.ModelVariable) ?? ModelCatalog.DefaultModelName;
        var variants = options.ModelOptions.Quantized ? ModelVariants.Quantized : ModelVariants.Float32;
        var cache = ModelCache.CreateDefault();
        var resolution = cache.Resolve(nameOrPath, variants);
        if (resolution.Source == ModelSource.LocalFolder || resolution.IsComplete)
        {
            return resolution.Directory;
        }

        using var downloader = new ModelDownloader(ModelDownloader.CreateHttpClient(), cache, disposeHttpClient: true);
        var download = new ModelDownloadOptions { Variants = variants, Offline = options.Offline ? true : null };
        return await downloader.EnsureModelAsync(nameOrPath, download, options.DownloadProgress, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Loads <paramref name="nameOrPath"/> (see <see cref="ResolveDirectoryAsync"/>) with <see cref="MmragOptions.ModelOptions"/>.</summary>
    public static async Task<ClipModel> LoadAsync(string? nameOrPath, MmragOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var directory = await ResolveDirectoryAsync(nameOrPath, options, cancellationToken).ConfigureAwait(false);
        return ClipModel.Load(directory, options.ModelOptions);
    }

    /// <summary>
    /// How a knowledge base records the model it was made with: a catalogue name as given, a folder as its full path,
    /// so the knowledge base opens from any working folder.
    /// </summary>
    public static string RecordFor(string nameOrPath)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(nameOrPath);
        return ModelCatalog.TryGet(nameOrPath, out _) ? nameOrPath : Path.GetFullPath(nameOrPath);
    }
}
