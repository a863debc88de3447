using Mmrag.Clip.Inference;
using Mmrag.Clip.Models;

namespace Mmrag.Hosting;

/// <summary>Turns a model name or folder into a loaded <see cref="ClipModel"/>: the one place that resolves, downloads and records models.</summary>
public static class ModelLoading
{
    /// <summary>
    /// The model folder for <paramref name="nameOrPath"/> (else <see cref="MmragOptions.DefaultModel"/>, i.e.
    /// <c>MMRAG_MODEL</c>, else the default model): a local folder as given, or a catalogue model from the cache of
    /// <see cref="MmragOptions.Home"/>, downloaded first when missing and allowed (<see cref="MmragOptions.Offline"/>).
    /// The options carry the environment's values, so that a caller with its own view of the environment (the CLI's
    /// per-command overrides) is not overruled by the process's.
    /// </summary>
    public static async Task<string> ResolveDirectoryAsync(string? nameOrPath, MmragOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        nameOrPath ??= string.IsNullOrWhiteSpace(options.DefaultModel) ? ModelCatalog.DefaultModelName : options.DefaultModel;
        var variants = options.ModelOptions.Quantized ? ModelVariants.Quantized : ModelVariants.Float32;
        var cache = ModelCache.ForHome(options.Home);
        var resolution = cache.Resolve(nameOrPath, variants);
        if (resolution.Source == ModelSource.LocalFolder || resolution.IsComplete)
        {
            return resolution.Directory;
        }

        using var downloader = new ModelDownloader(ModelDownloader.CreateHttpClient(), cache, disposeHttpClient: true);
        var download = new ModelDownloadOptions { Variants = variants, Offline = options.Offline };
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
