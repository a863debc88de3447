namespace Mmrag.Storage;

/// <summary>
/// Optional store capability: several settings written in one transaction and read in one snapshot, for values that
/// only make sense together (a query adapter and the stamp readers poll for it). A reader never sees some of a write's
/// values without the others, and a failed write changes none of them. Stores implement it beside
/// <see cref="IKnowledgeStore"/>; callers use <see cref="AtomicSettingsExtensions"/>, which falls back to one setting at
/// a time. Thread-safe.
/// </summary>
public interface IAtomicSettings
{
    /// <summary>The values of <paramref name="keys"/> as of one moment, in the keys' order (null where a key has none).</summary>
    Task<IReadOnlyList<string?>> GetSettingsAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken = default);

    /// <summary>Stores every value (null deletes its key) in one transaction: all of them or, when it fails, none.</summary>
    /// <exception cref="ArgumentException">A key is null, empty or listed twice.</exception>
    Task SetSettingsAsync(IReadOnlyList<KeyValuePair<string, string?>> settings, CancellationToken cancellationToken = default);
}

/// <summary>Several settings at once through <see cref="IAtomicSettings"/> where the store offers it.</summary>
public static class AtomicSettingsExtensions
{
    /// <summary>
    /// The values of <paramref name="keys"/>: in one snapshot when the store implements <see cref="IAtomicSettings"/>,
    /// else one <see cref="IKnowledgeStore.GetSettingAsync"/> after another.
    /// </summary>
    public static async Task<IReadOnlyList<string?>> GetSettingsAsync(this IKnowledgeStore store, IReadOnlyList<string> keys,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        CheckKeys(keys);
        if (store is IAtomicSettings atomic)
        {
            return await atomic.GetSettingsAsync(keys, cancellationToken).ConfigureAwait(false);
        }

        var values = new string?[keys.Count];
        for (var i = 0; i < keys.Count; i++)
        {
            values[i] = await store.GetSettingAsync(keys[i], cancellationToken).ConfigureAwait(false);
        }

        return values;
    }

    /// <summary>
    /// Stores every value: in one transaction when the store implements <see cref="IAtomicSettings"/>, else one
    /// <see cref="IKnowledgeStore.SetSettingAsync"/> after another, in the given order.
    /// </summary>
    public static async Task SetSettingsAsync(this IKnowledgeStore store, IReadOnlyList<KeyValuePair<string, string?>> settings,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(settings);
        CheckKeys([.. settings.Select(static s => s.Key)]);
        if (store is IAtomicSettings atomic)
        {
            await atomic.SetSettingsAsync(settings, cancellationToken).ConfigureAwait(false);
            return;
        }

        foreach (var (key, value) in settings)
        {
            await store.SetSettingAsync(key, value, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Throws unless every key is non-empty and listed once (the check every implementation makes first).</summary>
    /// <exception cref="ArgumentException">A key is null, empty or listed twice.</exception>
    public static void CheckKeys(IReadOnlyList<string> keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        var seen = new HashSet<string>(keys.Count, StringComparer.Ordinal);
        foreach (var key in keys)
        {
            if (string.IsNullOrEmpty(key))
            {
                throw new ArgumentException("A setting key is null or empty.", nameof(keys));
            }

            if (!seen.Add(key))
            {
                throw new ArgumentException($"The setting key '{key}' is listed twice.", nameof(keys));
            }
        }
    }
}
