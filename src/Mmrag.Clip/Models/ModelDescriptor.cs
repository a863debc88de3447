using System.Text.RegularExpressions;

namespace Mmrag.Clip.Models;

/// <summary>
/// A CLIP model that can be fetched from a HuggingFace-style hub: where it lives (repository and revision),
/// what it is called in the cache, and which files make it up. Immutable and thread-safe.
/// </summary>
/// <remarks>
/// The known models are in <see cref="ModelCatalog"/>; build your own descriptor to fetch any repository in the
/// same layout (see <see cref="ModelLayout"/>).
/// </remarks>
public sealed partial class ModelDescriptor
{
    /// <summary>Creates a descriptor.</summary>
    /// <param name="name">Short name, also the cache folder name: letters, digits, <c>-</c>, <c>_</c>, <c>.</c>.</param>
    /// <param name="repository">Hub repository id, <c>owner/name</c>.</param>
    /// <param name="revision">
    /// Branch, tag or commit. A 40-hex commit sha pins the exact bytes; a branch such as <c>main</c> follows the
    /// repository (a download then pins every file of one pull to the commit the hub reports for the first file).
    /// </param>
    /// <param name="dimension">Embedding dimension of both towers.</param>
    /// <param name="description">One line for listings.</param>
    /// <param name="supportFiles">Configuration and tokenizer files; default <see cref="ModelLayout.SupportFiles"/>.</param>
    public ModelDescriptor(string name, string repository, string revision, int dimension, string description, IEnumerable<string>? supportFiles = null)
    {
        ValidateName(name);
        ArgumentException.ThrowIfNullOrWhiteSpace(repository);
        if (!RepositoryPattern().IsMatch(repository))
        {
            throw new ArgumentException($"'{repository}' is not a hub repository id ('owner/name').", nameof(repository));
        }

        ArgumentException.ThrowIfNullOrWhiteSpace(revision);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dimension);
        ArgumentNullException.ThrowIfNull(description);

        var files = supportFiles is null ? [.. ModelLayout.SupportFiles] : supportFiles.ToArray();
        foreach (var file in files)
        {
            ModelLayout.ValidateRelativeFile(file, nameof(supportFiles));
        }

        Name = name;
        Repository = repository;
        Revision = revision;
        Dimension = dimension;
        Description = description;
        SupportFiles = files;
    }

    /// <summary>Short name, also the folder name under the cache root.</summary>
    public string Name { get; }

    /// <summary>Hub repository id, <c>owner/name</c>.</summary>
    public string Repository { get; }

    /// <summary>Branch, tag or commit sha the files are fetched from.</summary>
    public string Revision { get; }

    /// <summary>True when <see cref="Revision"/> is a full 40-hex commit sha, so the bytes can never change.</summary>
    public bool IsRevisionPinned => CommitPattern().IsMatch(Revision);

    /// <summary>Embedding dimension of both towers.</summary>
    public int Dimension { get; }

    /// <summary>One line for listings.</summary>
    public string Description { get; }

    /// <summary>Configuration and tokenizer files (relative hub paths).</summary>
    public IReadOnlyList<string> SupportFiles { get; }

    /// <summary>Every file to fetch for <paramref name="variants"/>: <see cref="SupportFiles"/> then the ONNX files.</summary>
    public IReadOnlyList<string> GetFiles(ModelVariants variants = ModelVariants.Float32) =>
        [.. SupportFiles, .. ModelLayout.OnnxFiles(variants)];

    /// <inheritdoc />
    public override string ToString() => $"{Name} ({Repository}@{Revision})";

    /// <summary>True when <paramref name="name"/> can name a cache folder (one path segment of letters, digits, <c>-</c>, <c>_</c>, <c>.</c>).</summary>
    public static bool IsValidName(string? name) =>
        !string.IsNullOrEmpty(name) && name != "." && name != ".." && NamePattern().IsMatch(name);

    internal static bool IsCommitSha(string revision) => CommitPattern().IsMatch(revision);

    private static void ValidateName(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (!IsValidName(name))
        {
            throw new ArgumentException($"'{name}' cannot name a model folder: use letters, digits, '-', '_' and '.'.", nameof(name));
        }
    }

    [GeneratedRegex("^[A-Za-z0-9._-]{1,96}$")]
    private static partial Regex NamePattern();

    [GeneratedRegex("^[A-Za-z0-9._-]+/[A-Za-z0-9._-]+$")]
    private static partial Regex RepositoryPattern();

    [GeneratedRegex("^[0-9a-f]{40}$")]
    private static partial Regex CommitPattern();
}
