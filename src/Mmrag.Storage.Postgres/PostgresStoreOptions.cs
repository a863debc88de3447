using Microsoft.Extensions.Logging;

namespace Mmrag.Storage.Postgres;

/// <summary>How a <see cref="PostgresKnowledgeStore"/> lays out and searches its tables. Validated when the store opens.</summary>
public sealed class PostgresStoreOptions
{
    /// <summary>
    /// The schema that holds the knowledge base's tables (created when missing), so several knowledge bases can share
    /// one database. The <c>vector</c> extension itself is created in the database's default schema. Default <c>public</c>.
    /// </summary>
    public string Schema { get; set; } = "public";

    /// <summary>HNSW graph degree (<c>m</c>) used when the index is created. Default 16 (pgvector's default).</summary>
    public int HnswM { get; set; } = 16;

    /// <summary>HNSW <c>ef_construction</c> used when the index is created. Default 128 (pgvector's is 64; more costs build time, buys recall).</summary>
    public int HnswEfConstruction { get; set; } = 128;

    /// <summary>
    /// The least <c>hnsw.ef_search</c> of a query; a query for k items uses max(this, 2k). Default 100 (pgvector's is 40,
    /// which gave recall@10 below 0.9 for queries far from every item in the contract suite).
    /// </summary>
    public int MinEfSearch { get; set; } = 100;

    /// <summary>
    /// The text search configuration of the keyword index. Default <c>english</c>: English words are stemmed (Snowball,
    /// i.e. Porter's stemmer revised), as the embedded store's Porter tokenizer does, so "flowers" finds "flower" in both;
    /// it also drops English stop words ("the", "and" …), which the embedded store keeps but ranks low. <c>simple</c>
    /// (lower-cased words, no stemming) or another language's configuration suits knowledge bases in other languages.
    /// Fixed when the knowledge base is created, except that a knowledge base on <c>simple</c> from before schema
    /// version 2 moves to this one (unless this is <c>simple</c>) the first time it is opened with write access.
    /// </summary>
    public string TextSearchConfiguration { get; set; } = "english";

    /// <summary>
    /// Open without ever writing: no extension, schema, migration or index is created, so a read replica (read-only
    /// transactions) or a role with only USAGE on the schema and SELECT on its tables can open the knowledge base for
    /// search, reads and stats. It must exist; an older schema version is read as it is, and a missing vector index
    /// makes vector searches exact. Every write method then throws <see cref="InvalidOperationException"/>.
    /// Default false (an open creates or migrates what is missing, and only then writes).
    /// </summary>
    public bool ReadOnly { get; set; }

    /// <summary>
    /// <c>maintenance_work_mem</c> for building the HNSW index in one go (after a bulk load, or when it is missing): the
    /// build is fast only while the graph fits (≈ 2.5 GB per million 512-d vectors); the server's default, 64MB, holds
    /// ≈ 25k. Set for that statement only. Default <c>1GB</c>.
    /// </summary>
    public string IndexBuildMemory { get; set; } = "1GB";

    /// <summary>Items written per <c>INSERT … SELECT FROM unnest(…)</c> statement. Default 500.</summary>
    public int InsertBatchSize { get; set; } = 500;

    /// <summary>Vectors whose L2 norm is further than this from 1 are normalized on write (a zero or non-finite vector is rejected). Default 1e-4.</summary>
    public float NormTolerance { get; set; } = 1e-4f;

    /// <summary>Where the store logs (migrations); none by default.</summary>
    public ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Schema) || Schema.Length > 63)
        {
            throw new ArgumentOutOfRangeException(nameof(Schema), Schema, "PostgresStoreOptions.Schema must be a name of 1 to 63 characters.");
        }

        if (HnswM is < 2 or > 100)
        {
            throw new ArgumentOutOfRangeException(nameof(HnswM), HnswM, "PostgresStoreOptions.HnswM must be in [2, 100].");
        }

        if (HnswEfConstruction < 2 * HnswM || HnswEfConstruction > 1000)
        {
            throw new ArgumentOutOfRangeException(nameof(HnswEfConstruction), HnswEfConstruction,
                "PostgresStoreOptions.HnswEfConstruction must be in [2 × HnswM, 1000].");
        }

        if (string.IsNullOrWhiteSpace(IndexBuildMemory) || !System.Text.RegularExpressions.Regex.IsMatch(IndexBuildMemory, @"^\d+\s*(kB|MB|GB|TB)?$"))
        {
            throw new ArgumentOutOfRangeException(nameof(IndexBuildMemory), IndexBuildMemory,
                "PostgresStoreOptions.IndexBuildMemory must be a PostgreSQL memory size such as 512MB or 2GB.");
        }

        if (MinEfSearch is < 1 or > 1000)
        {
            throw new ArgumentOutOfRangeException(nameof(MinEfSearch), MinEfSearch, "PostgresStoreOptions.MinEfSearch must be in [1, 1000].");
        }

        if (string.IsNullOrWhiteSpace(TextSearchConfiguration))
        {
            throw new ArgumentOutOfRangeException(nameof(TextSearchConfiguration), TextSearchConfiguration,
                "PostgresStoreOptions.TextSearchConfiguration must name a text search configuration.");
        }

        if (InsertBatchSize is < 1 or > 10_000)
        {
            throw new ArgumentOutOfRangeException(nameof(InsertBatchSize), InsertBatchSize, "PostgresStoreOptions.InsertBatchSize must be in [1, 10000].");
        }

        if (!(NormTolerance is >= 0 and < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(NormTolerance), NormTolerance, "PostgresStoreOptions.NormTolerance must be in [0, 1).");
        }
    }
}
