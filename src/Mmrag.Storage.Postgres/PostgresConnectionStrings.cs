using Npgsql;

namespace Mmrag.Storage.Postgres;

/// <summary>Accepts both Npgsql keyword connection strings and <c>postgres://user:password@host:port/database?sslmode=…</c> URLs.</summary>
public static class PostgresConnectionStrings
{
    /// <summary>Returns an Npgsql connection string for <paramref name="connection"/> (a valid keyword string is returned as given).</summary>
    /// <exception cref="FormatException">Not a valid PostgreSQL URL or Npgsql connection string (the message never repeats it: it may hold a password).</exception>
    public static string Normalize(string connection)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connection);
        try
        {
            return NormalizeUnchecked(connection);
        }
        catch (Exception ex) when (ex is ArgumentException or KeyNotFoundException)
        {
            throw new FormatException($"The PostgreSQL connection string is not valid: {ex.Message} (expected \"Host=…;Username=…;Password=…;Database=…\" or postgres://user:password@host:port/database).", ex);
        }
    }

    private static string NormalizeUnchecked(string connection)
    {
        if (!connection.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase)
            && !connection.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase))
        {
            // Parsed only to fail here, with a clear message, rather than in whatever reads it first.
            _ = new NpgsqlConnectionStringBuilder(connection);
            return connection;
        }

        if (!Uri.TryCreate(connection, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
        {
            throw new FormatException($"'{Redact(connection)}' is not a PostgreSQL URL (postgres://user:password@host:port/database).");
        }

        var builder = new NpgsqlConnectionStringBuilder { Host = uri.Host };
        if (uri.Port > 0)
        {
            builder.Port = uri.Port;
        }

        if (uri.UserInfo.Length > 0)
        {
            var parts = uri.UserInfo.Split(':', 2);
            builder.Username = Uri.UnescapeDataString(parts[0]);
            if (parts.Length == 2)
            {
                builder.Password = Uri.UnescapeDataString(parts[1]);
            }
        }

        var database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        if (database.Length > 0)
        {
            builder.Database = database;
        }

        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var kv = pair.Split('=', 2);
            var key = Uri.UnescapeDataString(kv[0]);
            var value = kv.Length == 2 ? Uri.UnescapeDataString(kv[1]) : "";
            builder[key.Equals("sslmode", StringComparison.OrdinalIgnoreCase) ? "SSL Mode" : key] = value;
        }

        return builder.ConnectionString;
    }

    private static string Redact(string connection)
    {
        var at = connection.LastIndexOf('@');
        var scheme = connection.IndexOf("://", StringComparison.Ordinal);
        return at > scheme && scheme >= 0 ? connection[..(scheme + 3)] + "…" + connection[at..] : connection;
    }
}
