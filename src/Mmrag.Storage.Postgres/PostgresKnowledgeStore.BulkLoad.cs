using Npgsql;
using Mmrag.Storage.Postgres.Sql;

namespace Mmrag.Storage.Postgres;

/// <content>Bulk loads: fill an empty knowledge base first, build its vector index once at the end.</content>
public sealed partial class PostgresKnowledgeStore
{
    /// <summary>
    /// Prepares an <b>empty</b> knowledge base for a bulk load (e.g. <c>mmrag kb migrate</c>): drops the HNSW index so
    /// that inserts do not link every row into the graph one by one, which costs several times a single build at the
    /// end (measured 1,374 s against 350 s for 100k vectors on PGlite). Returns false, and changes nothing, when the
    /// knowledge base already holds items: its searches must keep their index.
    /// </summary>
    /// <remarks>
    /// Call <see cref="BuildVectorIndexAsync"/> when the load is done. Until then vector searches scan every row (exact,
    /// slower). If the loader dies first, the next open of the knowledge base builds the index.
    /// </remarks>
    public Task<bool> SuspendVectorIndexForBulkLoadAsync(CancellationToken cancellationToken = default) =>
        RunWriteAsync("suspending the vector index for a bulk load", async (connection, ct) =>
        {
            NpgsqlTransaction tx = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
            await using (tx.ConfigureAwait(false))
            {
                // The table lock orders this against concurrent writers: no row can slip in between the check and the drop.
                await ExecuteAsync(connection, tx, $"LOCK TABLE {_s}.items IN SHARE ROW EXCLUSIVE MODE", ct).ConfigureAwait(false);
                if (await ScalarAsync<bool>(connection, tx, $"SELECT EXISTS (SELECT 1 FROM {_s}.items)", ct).ConfigureAwait(false))
                {
                    return false;
                }

                await ExecuteAsync(connection, tx, $"DROP INDEX IF EXISTS {_s}.{StoreSchema.VectorIndexName}", ct).ConfigureAwait(false);
                await tx.CommitAsync(ct).ConfigureAwait(false);
                return true;
            }
        }, cancellationToken);

    /// <summary>
    /// Builds the HNSW index in one go if it is missing (after <see cref="SuspendVectorIndexForBulkLoadAsync"/>), with
    /// <see cref="PostgresStoreOptions.IndexBuildMemory"/> as <c>maintenance_work_mem</c>. Does nothing when it exists.
    /// </summary>
    public Task BuildVectorIndexAsync(CancellationToken cancellationToken = default) =>
        RunWriteAsync("building the vector index", async (connection, ct) =>
        {
            NpgsqlTransaction tx = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
            await using (tx.ConfigureAwait(false))
            {
                await CreateVectorIndexAsync(connection, tx, _options, ct).ConfigureAwait(false);
                await tx.CommitAsync(ct).ConfigureAwait(false);
                return true;
            }
        }, cancellationToken);

    /// <summary>Creates the HNSW index when missing, in one go, with <see cref="PostgresStoreOptions.IndexBuildMemory"/> for this transaction.</summary>
    private static async Task CreateVectorIndexAsync(NpgsqlConnection connection, NpgsqlTransaction tx, PostgresStoreOptions options,
        CancellationToken cancellationToken)
    {
        await ExecuteAsync(connection, tx, "SELECT set_config('maintenance_work_mem', $1, true)", cancellationToken, options.IndexBuildMemory)
            .ConfigureAwait(false);
        await ExecuteAsync(connection, tx, StoreSchema.VectorIndex(StoreSchema.Identifier(options.Schema), options.HnswM, options.HnswEfConstruction),
            cancellationToken).ConfigureAwait(false);
    }
}
