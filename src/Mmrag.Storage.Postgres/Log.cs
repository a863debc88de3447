using Microsoft.Extensions.Logging;

namespace Mmrag.Storage.Postgres;

/// <summary>The assembly's log messages (stable event ids).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Postgres store: schema {Schema} migrated to version {Version} ({Description}).")]
    public static partial void MigrationApplied(ILogger logger, string schema, int version, string description);

    [LoggerMessage(EventId = 2, Level = LogLevel.Debug, Message = "Postgres store: opened schema {Schema} ({ModelId}, {Dimension} dimensions).")]
    public static partial void Opened(ILogger logger, string schema, string modelId, int dimension);

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "Postgres store: schema {Schema} had no vector index (a bulk load stopped before rebuilding it); it was built again.")]
    public static partial void VectorIndexRestored(ILogger logger, string schema);

    [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "Postgres store: schema {Schema} has no vector index and this session may not build it ({SqlState}); vector searches are exact until it is built.")]
    public static partial void VectorIndexNotRestored(ILogger logger, string schema, string sqlState);
}
