using System.CommandLine;
using Mmrag.Clip;
using Mmrag.Clip.Inference;
using Mmrag.Clip.Models;
using Mmrag.Clip.Preprocessing;
using Mmrag.Hosting;

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

    public Option<bool> FastDecode { get; } = new("--fast-decode")
    {
        Description = "Decode large JPEGs at 1/2, 1/4 or 1/8 size (DCT scaling, like Pillow's draft): several times faster, vectors close to but not equal to the reference's.",
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
            command.Options.Add(FastDecode);
        }
    }

    /// <summary>Puts the model options into <paramref name="options"/> (the model itself only when given on the command line).</summary>
    public MmragOptions Apply(ParseResult parseResult, MmragOptions options)
    {
        options.Model = parseResult.GetValue(Model);
        options.Offline |= parseResult.GetValue(Offline);
        var inference = parseResult.GetResult(Quantized) is not null || parseResult.CommandResult.Command.Options.Contains(Quantized);
        options.ModelOptions = new ClipModelOptions
        {
            IntraOpThreads = inference ? parseResult.GetValue(Threads) : 0,
            Quantized = inference && parseResult.GetValue(Quantized),
            ImageDecoding = new ImageDecodeOptions { ApplyExifOrientation = inference && parseResult.GetValue(ApplyExif) },
            FastJpegDecode = inference && parseResult.GetValue(FastDecode),
        };
        return options;
    }

    /// <summary>The model folder: a local folder as given, or a known model from the cache, downloaded first if needed.</summary>
    public async Task<string> ResolveDirectoryAsync(ParseResult parseResult, CancellationToken cancellationToken)
    {
        using var progress = DownloadProgress.Create(parseResult.InvocationConfiguration.Error);
        var options = MmragOptions.FromEnvironment(CliEnvironment.Get);
        options.DownloadProgress = progress;
        Apply(parseResult, options);
        return await ModelLoading.ResolveDirectoryAsync(options.Model, options, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Loads the model given on the command line (else MMRAG_MODEL, else the default).</summary>
    public async Task<ClipModel> LoadAsync(ParseResult parseResult, CancellationToken cancellationToken)
    {
        using var progress = DownloadProgress.Create(parseResult.InvocationConfiguration.Error);
        var options = MmragOptions.FromEnvironment(CliEnvironment.Get);
        options.DownloadProgress = progress;
        Apply(parseResult, options);
        return await ModelLoading.LoadAsync(options.Model, options, cancellationToken).ConfigureAwait(false);
    }
}
