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
    /// <summary>
    /// What a migration needs to know about the knowledge base it creates or upgrades: <paramref name="TextSearchConfiguration"/>
    /// is the one it has (for a new knowledge base, the one asked for), <paramref name="RequestedTextSearchConfiguration"/>
    /// the one the opener's options ask for.
    /// </summary>
    internal sealed record Context(string Schema, EmbeddingSpace Space, string TextSearchConfiguration, string RequestedTextSearchConfiguration,
        int HnswM, int HnswEfConstruction);

    /// <summary>A migration: its version, a one-line description, and its SQL for a given knowledge base.</summary>
    internal sealed record Migration(int Version, string Description, Func<Context, string> Sql);

    /// <summary>Every migration, in version order.</summary>
    public static IReadOnlyList<Migration> Migrations { get; } =
    [
        new(1, "documents, items (vector + tsvector, HNSW + GIN), failures, settings, ingestion claims", Initial),
        new(2, "keyword search stems English words like the embedded store (simple → english)", EnglishKeywords),
        new(3, "completed ingestion claims of deleted documents are released", ReleaseClaimsOfDeletedDocuments),
        new(FeedbackVersion, "relevance feedback (judgements with their query vectors)", RelevanceFeedback),
    ];

    /// <summary>The version that added the <c>relevance_feedback</c> table.</summary>
    public const int FeedbackVersion = 4;

    /// <summary>The text search configuration of a knowledge base created before version 2 by default (no stemming).</summary>
    public const string Simple = "simple";

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

    /// <summary>The schema (a knowledge base's namespace); run only when it is missing: even <c>IF NOT EXISTS</c> needs CREATE on the database.</summary>
    public static string CreateSchema(string schema) => $"CREATE SCHEMA {Identifier(schema)}";

    /// <summary>The table of applied migrations, the knowledge base's schema version.</summary>
    public static string CreateMigrationsTable(string schema) => $"""
        CREATE TABLE IF NOT EXISTS {Identifier(schema)}.schema_migrations (
            version integer PRIMARY KEY,
            description text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now())
        """;

    /// <summary>The keyword text of an item: its text and the words a user may search an image or chunk by (description, caption, section, document title).</summary>
    private static string SearchColumn(string textSearchConfiguration) =>
        $"search tsvector GENERATED ALWAYS AS (to_tsvector({Literal(textSearchConfiguration)}::regconfig, " +
        "text || ' ' || coalesce(description, '') || ' ' || coalesce(caption, '') || ' ' || coalesce(section, '') || ' ' || coalesce(title, ''))) STORED";

    private static string Initial(Context c)
    {
        string s = Identifier(c.Schema);
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
                {SearchColumn(c.TextSearchConfiguration)});
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

    /// <summary>
    /// Version 2: a knowledge base on <c>simple</c> (the default before it: no stemming, so "flowers" did not find
    /// "flower" as it does in the embedded store) moves to the configuration the opener asks for (default
    /// <c>english</c>) unless that is <c>simple</c> too: the generated keyword column and its GIN index are rebuilt
    /// (a table rewrite, under the open's advisory lock). Any other configuration was chosen on purpose and stays.
    /// </summary>
    private static string EnglishKeywords(Context c)
    {
        if (c.TextSearchConfiguration != Simple || c.RequestedTextSearchConfiguration == Simple)
        {
            return string.Empty;
        }

        string s = Identifier(c.Schema);
        return $"""
            UPDATE {s}.kb_info SET text_search_config = {Literal(c.RequestedTextSearchConfiguration)};
            ALTER TABLE {s}.items DROP COLUMN search;
            ALTER TABLE {s}.items ADD COLUMN {SearchColumn(c.RequestedTextSearchConfiguration)};
            CREATE INDEX items_search ON {s}.items USING gin (search);
            """;
    }

    /// <summary>
    /// Version 4: relevance feedback. The query vector is a pgvector <c>vector</c> without a fixed dimension (4 bytes a
    /// value, like the items'), since a judgement kept from before a re-embed has its own model's dimension. No foreign
    /// key to items: a judgement outlives its item (readers skip it). <c>seq</c> orders judgements of the same instant.
    /// </summary>
    private static string RelevanceFeedback(Context c)
    {
        string s = Identifier(c.Schema);
        return $"""
            CREATE TABLE {s}.relevance_feedback (
                seq bigint GENERATED ALWAYS AS IDENTITY,
                id text PRIMARY KEY,
                modality text NOT NULL CHECK (modality IN ('text', 'image')),
                query_text text,
                query_image text,
                query_vector vector NOT NULL,
                item_id text NOT NULL,
                relevant boolean NOT NULL,
                model_id text NOT NULL,
                source text NOT NULL,
                created_at timestamptz NOT NULL);
            CREATE INDEX relevance_feedback_model ON {s}.relevance_feedback (model_id, created_at);
            """;
    }

    /// <summary>
    /// Version 3: claims are decided on the claim row alone (see <c>TryClaimAsync</c>), so a deleted document's
    /// completed claim must go with it; this removes those that deletions before this version left behind.
    /// </summary>
    private static string ReleaseClaimsOfDeletedDocuments(Context c)
    {
        string s = Identifier(c.Schema);
        return $"DELETE FROM {s}.ingestion_claims c WHERE c.completed_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {s}.documents d WHERE d.id = c.document_id)";
    }
}
