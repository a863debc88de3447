using System.CommandLine;
using Mmrag.Clip;
using Mmrag.Clip.Inference;
using Mmrag.Clip.Models;
using Mmrag.Clip.Preprocessing;

namespace Mmrag.Cli.Commands;

/// <summary>Options that several commands share, and the one place that turns them into a model folder and a loaded model.</summary>
internal sealed class ModelOptions
{
    public Option<string?> Model { get; } = new("--model", "-m")
    {
        Description = $"Model name ({string.Join(", ", ModelCatalog.All.Select(static m => m.Name))}; default {ModelCatalog.DefaultModelName}, downloaded on first use) or a folder in the HuggingFace ONNX layout.",
    };

    public Option<bool> Offline { get; } = new("--offline") { Description = "Never download a model (also MMRAG_OFFLINE=1)." };

    public Option<int> Threads { get; } = new Option<int>("--threads")
    {
        Description = "ONNX Runtime threads per inference (0 = one per core).",
        DefaultValueFactory = static _ => 0,
    }.AtLeast(0);

    public Option<bool> Quantized { get; } = new("--quantized") { Description = "Use onnx/*_quantized.onnx." };

    public Option<bool> ApplyExif { get; } = new("--apply-exif-orientation")
    {
        Description = "Rotate photos by their EXIF orientation first (the reference model's preprocessing does not).",
    };

    public void AddTo(Command command, bool inference = true)
    {
        command.Options.Add(Model);
        command.Options.Add(Offline);
        if (inference)
        {
            command.Options.Add(Threads);
            command.Options.Add(Quantized);
            command.Options.Add(ApplyExif);
        }
    }

    /// <summary>The model folder: a local folder as given, or a known model from the cache, downloaded first if needed.</summary>
    public async Task<string> ResolveDirectoryAsync(ParseResult parseResult, CancellationToken cancellationToken, string? nameOrPathOverride = null)
    {
        var nameOrPath = nameOrPathOverride ?? parseResult.GetValue(Model) ?? Environment.GetEnvironmentVariable("MMRAG_MODEL") ?? ModelCatalog.DefaultModelName;
        var variants = parseResult.GetResult(Quantized) is not null && parseResult.GetValue(Quantized) ? ModelVariants.Quantized : ModelVariants.Float32;
        var cache = ModelCache.CreateDefault();
        var resolution = cache.Resolve(nameOrPath, variants);
        if (resolution.Source == ModelSource.LocalFolder || resolution.IsComplete)
        {
            return resolution.Directory;
        }

        using var downloader = new ModelDownloader(ModelDownloader.CreateHttpClient(), cache, disposeHttpClient: true);
        var options = new ModelDownloadOptions { Variants = variants, Offline = parseResult.GetValue(Offline) ? true : null };
        using var progress = DownloadProgress.Create(parseResult.InvocationConfiguration.Error);
        return await downloader.EnsureModelAsync(nameOrPath, options, progress, cancellationToken).ConfigureAwait(false);
    }

    public Task<ClipModel> LoadAsync(ParseResult parseResult, CancellationToken cancellationToken) => LoadAsync(parseResult, null, cancellationToken);

    /// <summary>Loads <paramref name="nameOrPath"/> (or the model given on the command line / by MMRAG_MODEL / the default).</summary>
    public async Task<ClipModel> LoadAsync(ParseResult parseResult, string? nameOrPath, CancellationToken cancellationToken)
    {
        var directory = await ResolveDirectoryAsync(parseResult, cancellationToken, nameOrPath).ConfigureAwait(false);
        return ClipModel.Load(directory, new ClipModelOptions
        {
            IntraOpThreads = parseResult.GetValue(Threads),
            Quantized = parseResult.GetValue(Quantized),
            ImageDecoding = new ImageDecodeOptions { ApplyExifOrientation = parseResult.GetValue(ApplyExif) },
        });
    }
}
