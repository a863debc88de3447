using System.Diagnostics.CodeAnalysis;

namespace Mmrag.Clip.Models;

/// <summary>
/// The folder where models are kept: <c>$MMRAG_HOME/models</c> (<c>MMRAG_HOME</c> defaults to <c>~/.cache/mmrag</c>),
/// one sub-folder per model name, each in the HuggingFace ONNX layout (<see cref="ModelLayout"/>). Also resolves a
/// user's model argument (a catalog name, a hub repository id or a folder path) to a folder.
/// </summary>
/// <remarks>
/// Only reads the file system; it never creates, changes or deletes files (<see cref="ModelDownloader"/> does).
/// Thread-safe. Results reflect the disk at the time of the call.
/// </remarks>
public sealed class ModelCache
{
    /// <summary>Environment variable naming mmrag's home folder; models live in its <c>models</c> sub-folder.</summary>
    public const string HomeVariable = "MMRAG_HOME";

    /// <summary>Creates a cache rooted at <paramref name="root"/> (the folder holding one sub-folder per model).</summary>
    public ModelCache(string root)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        Root = Path.GetFullPath(ExpandHome(root));
    }

    /// <summary>The folder holding one sub-folder per model.</summary>
    public string Root { get; }

    /// <summary>A cache at <see cref="DefaultRoot"/>.</summary>
    public static ModelCache CreateDefault() => ForHome(Environment.GetEnvironmentVariable(HomeVariable));

    /// <summary>
    /// The cache of the home folder <paramref name="mmragHome"/> (a value of <c>MMRAG_HOME</c> read by the caller, e.g. from
    /// its own view of the environment): its <c>models</c> sub-folder, or <c>~/.cache/mmrag/models</c> when it is null or empty.
    /// </summary>
    public static ModelCache ForHome(string? mmragHome) =>
        new(ResolveRoot(mmragHome, Environment.GetFolderPath(Environment.SpecialFolder.UserProfile)));

    /// <summary><c>$MMRAG_HOME/models</c>, or <c>~/.cache/mmrag/models</c> when <c>MMRAG_HOME</c> is unset or empty.</summary>
    public static string DefaultRoot() => CreateDefault().Root;

    internal static string ResolveRoot(string? mmragHome, string userHome)
    {
        var home = string.IsNullOrWhiteSpace(mmragHome)
            ? Path.Combine(userHome, ".cache", "mmrag")
            : ExpandHome(mmragHome, userHome);
        return Path.GetFullPath(Path.Combine(home, "models"));
    }

    /// <summary>The folder of the model named <paramref name="name"/> (which need not exist).</summary>
    public string GetModelDirectory(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (!ModelDescriptor.IsValidName(name))
        {
            throw new ArgumentException($"'{name}' cannot name a model folder: use letters, digits, '-', '_' and '.'.", nameof(name));
        }

        return Path.Combine(Root, name);
    }

    /// <summary>
    /// Every model folder under <see cref="Root"/>, complete or partial, sorted by name. Folders whose names start
    /// with <c>.</c> are skipped.
    /// </summary>
    public IReadOnlyList<CachedModel> List()
    {
        if (!Directory.Exists(Root))
        {
            return [];
        }

        var models = new List<CachedModel>();
        foreach (var directory in Directory.EnumerateDirectories(Root).Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileName(directory);
            if (name.StartsWith('.') || !ModelDescriptor.IsValidName(name))
            {
                continue;
            }

            models.Add(Inspect(name, directory));
        }

        return models;
    }

    /// <summary>
    /// Works out where <paramref name="nameOrPath"/> lives and what it lacks for <paramref name="variants"/>:
    /// a catalog name or repository id (<see cref="ModelCatalog"/>) → its cache folder; a path (rooted, or containing
    /// a separator, or starting with <c>.</c> or <c>~</c>) → that folder, used as is; any other valid name → a cache
    /// folder of that name (for models put there by hand). Write <c>./name</c> for a folder in the working directory.
    /// </summary>
    public ModelResolution Resolve(string nameOrPath, ModelVariants variants = ModelVariants.Float32)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(nameOrPath);
        ModelLayout.ValidateVariants(variants, nameof(variants));

        if (ModelCatalog.TryGet(nameOrPath, out var model))
        {
            var directory = GetModelDirectory(model.Name);
            return Describe(ModelSource.Cache, directory, model, model.GetFiles(variants));
        }

        var required = ModelLayout.RequiredFiles(variants);
        if (!LooksLikePath(nameOrPath) && ModelDescriptor.IsValidName(nameOrPath))
        {
            return Describe(ModelSource.Cache, GetModelDirectory(nameOrPath), model: null, required);
        }

        return Describe(ModelSource.LocalFolder, Path.GetFullPath(ExpandHome(nameOrPath)), model: null, required);
    }

    /// <summary>
    /// The folder of <paramref name="nameOrPath"/> (see <see cref="Resolve"/>) when it exists and holds every file
    /// <paramref name="variants"/> needs; false otherwise (<see cref="Resolve"/> says what is missing).
    /// </summary>
    public bool TryResolve(string nameOrPath, [NotNullWhen(true)] out string? directory, ModelVariants variants = ModelVariants.Float32)
    {
        var resolution = Resolve(nameOrPath, variants);
        directory = resolution.IsComplete ? resolution.Directory : null;
        return directory is not null;
    }

    private static ModelResolution Describe(ModelSource source, string directory, ModelDescriptor? model, IReadOnlyList<string> required)
    {
        var exists = Directory.Exists(directory);
        var missing = exists ? ModelLayout.MissingFiles(directory, required) : required;
        return new ModelResolution(source, directory, model, exists, missing);
    }

    private static CachedModel Inspect(string name, string directory)
    {
        ModelCatalog.TryGet(name, out var model);
        var support = model?.SupportFiles ?? ModelLayout.SupportFiles;

        bool AnyPresent(ModelVariants v) => ModelLayout.OnnxFiles(v).Any(f => File.Exists(ModelLayout.FullPath(directory, f)));
        bool AllPresent(ModelVariants v) => ModelLayout.MissingFiles(directory, [.. support, .. ModelLayout.OnnxFiles(v)]).Count == 0;

        // Judge completeness against the variants the folder has started to hold; float32 when it holds none.
        var target = ModelVariants.None;
        foreach (var variant in new[] { ModelVariants.Float32, ModelVariants.Quantized })
        {
            if (AnyPresent(variant))
            {
                target |= variant;
            }
        }

        if (target == ModelVariants.None)
        {
            target = ModelVariants.Float32;
        }

        var complete = ModelVariants.None;
        foreach (var variant in new[] { ModelVariants.Float32, ModelVariants.Quantized })
        {
            if (AllPresent(variant))
            {
                complete |= variant;
            }
        }

        var missing = ModelLayout.MissingFiles(directory, [.. support, .. ModelLayout.OnnxFiles(target)]);
        var partials = new List<string>();
        long size = 0;
        foreach (var file in Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories))
        {
            size += new FileInfo(file).Length;
            if (file.EndsWith(ModelLayout.PartialSuffix, StringComparison.Ordinal))
            {
                var relative = Path.GetRelativePath(directory, file).Replace(Path.DirectorySeparatorChar, '/');
                partials.Add(relative[..^ModelLayout.PartialSuffix.Length]);
            }
        }

        partials.Sort(StringComparer.Ordinal);
        return new CachedModel(name, directory, model, complete, missing, partials, size);
    }

    private static bool LooksLikePath(string value) =>
        Path.IsPathRooted(value)
        || value.Contains('/', StringComparison.Ordinal)
        || value.Contains('\\', StringComparison.Ordinal)
        || value.StartsWith('.')
        || value.StartsWith('~');

    private static string ExpandHome(string path) =>
        ExpandHome(path, Environment.GetFolderPath(Environment.SpecialFolder.UserProfile));

    private static string ExpandHome(string path, string userHome) =>
        path == "~" ? userHome
        : path.StartsWith("~/", StringComparison.Ordinal) || path.StartsWith("~\\", StringComparison.Ordinal) ? Path.Combine(userHome, path[2..])
        : path;
}

/// <summary>Where a model argument points (see <see cref="ModelCache.Resolve"/>).</summary>
public enum ModelSource
{
    /// <summary>A folder under the cache root, fetched by <see cref="ModelDownloader"/> or placed there by hand.</summary>
    Cache,

    /// <summary>A folder the user named by path; used as is and never downloaded into.</summary>
    LocalFolder,
}

/// <summary>The outcome of <see cref="ModelCache.Resolve"/>.</summary>
/// <param name="Source">Cache folder or user folder.</param>
/// <param name="Directory">Absolute path of the folder (which may not exist).</param>
/// <param name="Model">The catalog entry, when the argument named one.</param>
/// <param name="Exists">Whether <paramref name="Directory"/> exists.</param>
/// <param name="MissingFiles">Required files (relative hub paths) not present, in download order.</param>
public sealed record ModelResolution(ModelSource Source, string Directory, ModelDescriptor? Model, bool Exists, IReadOnlyList<string> MissingFiles)
{
    /// <summary>True when the folder exists and holds every required file.</summary>
    public bool IsComplete => Exists && MissingFiles.Count == 0;
}

/// <summary>A model folder found under the cache root (see <see cref="ModelCache.List"/>).</summary>
/// <param name="Name">Folder name.</param>
/// <param name="Directory">Absolute path.</param>
/// <param name="Model">The catalog entry of that name, if any.</param>
/// <param name="CompleteVariants">Variants whose files (configuration, tokenizer and both towers) are all present.</param>
/// <param name="MissingFiles">
/// Files still missing for the variants the folder has started to hold (float32 when it holds no ONNX file yet).
/// </param>
/// <param name="PartialFiles">Files with an unfinished download (<c>&lt;file&gt;.partial</c>), by their final relative path.</param>
/// <param name="SizeBytes">Bytes used on disk, partial downloads included.</param>
public sealed record CachedModel(
    string Name,
    string Directory,
    ModelDescriptor? Model,
    ModelVariants CompleteVariants,
    IReadOnlyList<string> MissingFiles,
    IReadOnlyList<string> PartialFiles,
    long SizeBytes)
{
    /// <summary>True when nothing is missing (see <see cref="MissingFiles"/>).</summary>
    public bool IsComplete => MissingFiles.Count == 0;
}
