using System.Diagnostics.CodeAnalysis;

namespace Mmrag.Clip.Models;

/// <summary>
/// The CLIP models mmrag knows by name. Thread-safe (immutable).
/// </summary>
/// <remarks>
/// <para>
/// Revisions: no network was available when this catalog was written, so the commit shas of the hub repositories
/// could not be read, and every entry follows <c>main</c> (<see cref="ModelDescriptor.IsRevisionPinned"/> is false).
/// To pin one, replace <c>Main</c> with the 40-hex commit sha shown on the repository's "Files and versions" page;
/// the downloader then requests exactly that commit. While unpinned, one pull still fetches every file from the
/// single commit the hub reports (<c>X-Repo-Commit</c>) for the first file.
/// </para>
/// <para>
/// Verification status: the layout of <c>Xenova/clip-vit-base-patch32</c> (split <c>onnx/text_model.onnx</c> /
/// <c>onnx/vision_model.onnx</c> + tokenizer files) is documented in the shared fixtures README and by third-party
/// projects downloading those exact paths. <c>Xenova/clip-vit-base-patch16</c> is used under that id by many
/// transformers.js projects (ONNX weights in <c>onnx/</c>); its split file names are assumed identical (same
/// converter). <c>Xenova/CLIP-ViT-B-32-laion2B-s34B-b79K</c> could NOT be confirmed from any reachable source: it is
/// the id transformers.js' converter would give <c>laion/CLIP-ViT-B-32-laion2B-s34B-b79K</c>. The quantized file
/// names follow transformers.js' <c>*_quantized.onnx</c> convention and are unverified for all three.
/// </para>
/// </remarks>
public static class ModelCatalog
{
    /// <summary>Name of the default model.</summary>
    public const string DefaultModelName = "clip-vit-base-patch32";

    // The revision every entry uses until someone who can reach the hub pins the commit shas (see remarks).
    private const string Main = "main";

    /// <summary>OpenAI CLIP ViT-B/32 in Xenova's ONNX export: the default.</summary>
    public static ModelDescriptor ClipVitBasePatch32 { get; } = new(
        DefaultModelName,
        "Xenova/clip-vit-base-patch32",
        Main,
        dimension: 512,
        "OpenAI CLIP ViT-B/32 (ONNX export by Xenova); default, fastest");

    /// <summary>OpenAI CLIP ViT-B/16 in Xenova's ONNX export: finer patches, slower image encoding.</summary>
    public static ModelDescriptor ClipVitBasePatch16 { get; } = new(
        "clip-vit-base-patch16",
        "Xenova/clip-vit-base-patch16",
        Main,
        dimension: 512,
        "OpenAI CLIP ViT-B/16 (ONNX export by Xenova); more accurate, ~4x slower image encoding");

    /// <summary>LAION's OpenCLIP ViT-B/32 trained on LAION-2B, in a Xenova ONNX export (repository id unverified).</summary>
    public static ModelDescriptor ClipVitB32Laion2B { get; } = new(
        "clip-vit-b32-laion2b",
        "Xenova/CLIP-ViT-B-32-laion2B-s34B-b79K",
        Main,
        dimension: 512,
        "LAION OpenCLIP ViT-B/32 trained on LAION-2B (ONNX export by Xenova; repository id unverified)");

    /// <summary>All known models, default first.</summary>
    public static IReadOnlyList<ModelDescriptor> All { get; } = [ClipVitBasePatch32, ClipVitBasePatch16, ClipVitB32Laion2B];

    /// <summary>The default model (<see cref="DefaultModelName"/>).</summary>
    public static ModelDescriptor Default => ClipVitBasePatch32;

    /// <summary>Finds a model by short name or hub repository id (case-insensitive).</summary>
    public static bool TryGet(string nameOrRepository, [NotNullWhen(true)] out ModelDescriptor? model)
    {
        ArgumentNullException.ThrowIfNull(nameOrRepository);
        model = All.FirstOrDefault(m =>
            string.Equals(m.Name, nameOrRepository, StringComparison.OrdinalIgnoreCase)
            || string.Equals(m.Repository, nameOrRepository, StringComparison.OrdinalIgnoreCase));
        return model is not null;
    }

    /// <summary>Finds a model by short name or hub repository id; throws <see cref="ClipModelException"/> listing the known names otherwise.</summary>
    public static ModelDescriptor Get(string nameOrRepository) =>
        TryGet(nameOrRepository, out var model)
            ? model
            : throw new ClipModelException(
                $"Unknown model '{nameOrRepository}'. Known models: {string.Join(", ", All.Select(m => m.Name))}; or give the path of a folder in the HuggingFace ONNX layout.");
}
