using System.Globalization;
using Mmrag.Knowledge;

namespace Mmrag.Storage.Postgres.Sql;

/// <summary>
/// The knowledge base's tables as versioned migrations. Each migration runs once per schema, inside the open's
/// transaction (under an advisory lock, so concurrent opens of a new knowledge base do not race), and is recorded in
/// <c>schema_migrations</c>. A new version is appended here; existing ones never change.
/// </summary>
internal static class StoreSchema
{
    /// <summary>What a migration needs to know about the knowledge base it creates or upgrades.</summary>
    internal sealed record Context(string Schema, EmbeddingSpace Space, string TextSearchConfiguration, int HnswM, int HnswEfConstruction);

    /// <summary>A migration: its version, a one-line description, and its SQL for a given knowledge base.</summary>
    internal sealed record Migration(int Version, string Description, Func<Context, string> Sql);

    /// <summary>Every migration, in version order.</summary>
    public static IReadOnlyList<Migration> Migrations { get; } =
    [
        new(1, "documents, items (vector + tsvector, HNSW + GIN), failures, settings, ingestion claims", Initial),
    ];

    public static int LatestVersion => Migrations[^1].Version;

    /// <summary>A double-quoted identifier (a schema name comes from options, never from data).</summary>
    public static string Identifier(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    /// <summary>A single-quoted SQL literal (for DDL, where parameters cannot go).</summary>
    public static string Literal(string value) => "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";

    /// <summary>The name of the HNSW index on <c>items.embedding</c>, unqualified.</summary>
    public const string VectorIndexName = "items_embedding";

    /// <summary>The HNSW index on <c>items.embedding</c> (created by the first migration; dropped and recreated around bulk loads).</summary>
    public static string VectorIndex(string qualifiedSchema, int m, int efConstruction) =>
        $"CREATE INDEX IF NOT EXISTS {VectorIndexName} ON {qualifiedSchema}.items USING hnsw (embedding vector_ip_ops) " +
        $"WITH (m = {m.ToString(CultureInfo.InvariantCulture)}, ef_construction = {efConstruction.ToString(CultureInfo.InvariantCulture)})";

    public static string Bootstrap(string schema) => $"""
        CREATE SCHEMA IF NOT EXISTS {Identifier(schema)};
        CREATE TABLE IF NOT EXISTS {Identifier(schema)}.schema_migrations (
            version integer PRIMARY KEY,
            description text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now());
        """;

    private static string Initial(Context c)
    {
        string s = Identifier(c.Schema);
        string config = Literal(c.TextSearchConfiguration) + "::regconfig";
        string dimension = c.Space.Dimension.ToString(CultureInfo.InvariantCulture);
        // The keyword text is the item's text plus the words a user may search an image or chunk by: description,
        // caption, section and document title. A generated column keeps it in the same statement as the row.
        return $"""
            CREATE TABLE {s}.kb_info (
                singleton boolean PRIMARY KEY DEFAULT TRUE CHECK (singleton),
                model_id text NOT NULL,
                dimension integer NOT NULL,
                text_search_config text NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now());
            INSERT INTO {s}.kb_info (model_id, dimension, text_search_config)
                VALUES ({Literal(c.Space.ModelId)}, {dimension}, {Literal(c.TextSearchConfiguration)});
            CREATE TABLE {s}.documents (
                id text PRIMARY KEY,
                source_path text NOT NULL UNIQUE,
                content_hash text NOT NULL,
                media_type text NOT NULL,
                title text,
                item_count integer NOT NULL,
                ingested_at timestamptz NOT NULL,
                tags text[] NOT NULL DEFAULT ARRAY[]::text[]);
            CREATE TABLE {s}.items (
                id text PRIMARY KEY,
                document_id text NOT NULL REFERENCES {s}.documents (id) ON DELETE CASCADE,
                kind text NOT NULL CHECK (kind IN ('text', 'image')),
                content_hash text NOT NULL,
                text text NOT NULL,
                description text,
                image_path text,
                source_path text NOT NULL,
                title text,
                page integer,
                section text,
                caption text,
                position integer NOT NULL,
                tags text[] NOT NULL DEFAULT ARRAY[]::text[],
                embedding vector({dimension}) NOT NULL,
                search tsvector GENERATED ALWAYS AS (to_tsvector({config},
                    text || ' ' || coalesce(description, '') || ' ' || coalesce(caption, '') || ' ' || coalesce(section, '') || ' ' || coalesce(title, ''))) STORED);
            CREATE INDEX items_document_id ON {s}.items (document_id);
            CREATE INDEX items_content_hash ON {s}.items (content_hash);
            {VectorIndex(s, c.HnswM, c.HnswEfConstruction)};
            CREATE INDEX items_search ON {s}.items USING gin (search);
            CREATE TABLE {s}.failures (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                source_path text NOT NULL,
                reason text NOT NULL,
                detail text,
                at timestamptz NOT NULL);
            CREATE INDEX failures_source_path ON {s}.failures (source_path);
            CREATE TABLE {s}.settings (
                key text PRIMARY KEY,
                value text NOT NULL);
            CREATE TABLE {s}.ingestion_claims (
                document_id text PRIMARY KEY,
                content_hash text NOT NULL,
                owner text NOT NULL,
                claimed_at timestamptz NOT NULL,
                expires_at timestamptz NOT NULL,
                completed_at timestamptz);
            """;
    }
}
