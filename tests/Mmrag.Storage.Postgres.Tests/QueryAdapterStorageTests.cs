using System.Runtime.InteropServices;
using Mmrag.Knowledge;
using Mmrag.Retrieval.Adapters;
using Mmrag.Retrieval.Search;
using Npgsql;

namespace Mmrag.Storage.Postgres.Tests;

/// <summary>The query adapter kept in a PostgreSQL knowledge base's settings, as in the embedded one's.</summary>
[Collection(PostgresCollection.Name)]
public sealed class QueryAdapterStorageTests(PostgresTestServer server) : IAsyncLifetime
{
    private static readonly EmbeddingSpace Space = new("test-model", 8);
    private readonly List<string> _schemas = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => server.DropSchemasAsync(_schemas);

    [Fact]
    public async Task Settings_SaveLoadRemove_RoundTripsBitExactAndCountsRevisions()
    {
        _schemas.Add(PostgresTestServer.NewSchema());
        await using PostgresKnowledgeStore store = await PostgresKnowledgeStore.OpenAsync(server.ConnectionString, Space,
            new PostgresStoreOptions { Schema = _schemas[^1] });
        var adapter = Adapter(Space.ModelId);

        var first = await QueryAdapterSettings.SaveAsync(store, adapter);
        var second = await QueryAdapterSettings.SaveAsync(store, adapter);
        var loaded = (await QueryAdapterSettings.LoadAsync(store)).Adapter;

        Assert.Equal(1, first.Info.Revision);
        Assert.Equal(2, second.Info.Revision);
        Assert.NotNull(loaded);
        Assert.Equal(Bytes(adapter.Matrix(QueryModality.Image)), Bytes(loaded.Matrix(QueryModality.Image)));
        Assert.False(loaded.Maps(QueryModality.Text));
        Assert.Equal(adapter.Backgrounds, loaded.Backgrounds);
        Assert.Equal(adapter.Info.Modalities, loaded.Info.Modalities);
        Assert.Equal(adapter.Info with { Revision = 2 }, loaded.Info with { Modalities = adapter.Info.Modalities });
        Assert.True(await QueryAdapterSettings.RemoveAsync(store));
        Assert.Equal(QueryAdapterState.None, await QueryAdapterSettings.LoadAsync(store));
    }

    [Fact]
    public async Task Load_AdapterOfAnotherModel_IsIgnoredWithAWarning()
    {
        _schemas.Add(PostgresTestServer.NewSchema());
        await using PostgresKnowledgeStore store = await PostgresKnowledgeStore.OpenAsync(server.ConnectionString, Space,
            new PostgresStoreOptions { Schema = _schemas[^1] });
        await store.SetSettingAsync(QueryAdapterSettings.SettingKey, QueryAdapterSettings.Serialize(Adapter("another-model")));

        var state = await QueryAdapterSettings.LoadAsync(store);

        Assert.Null(state.Adapter);
        Assert.Contains("another-model", state.Warning, StringComparison.Ordinal);
        Assert.Contains(Space.ModelId, state.Warning, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(QueryAdapterSettings.StampKey)]
    [InlineData(QueryAdapterSettings.SettingKey)]
    public async Task Save_OneOfItsWritesRefused_LeavesTheEarlierAdapterWithItsStamp(string refusedKey)
    {
        _schemas.Add(PostgresTestServer.NewSchema());
        string schema = _schemas[^1];
        await using PostgresKnowledgeStore store = await PostgresKnowledgeStore.OpenAsync(server.ConnectionString, Space,
            new PostgresStoreOptions { Schema = schema });
        var adapter = Adapter(Space.ModelId);
        await QueryAdapterSettings.SaveAsync(store, adapter);
        var before = await QueryAdapterSettings.ReadWithStampAsync(store);
        // The database refuses one of the two settings, as a full disk or a lost connection would stop a write half-way.
        await using (var connection = new NpgsqlConnection(server.ConnectionString))
        {
            await connection.OpenAsync();
            await using var trigger = new NpgsqlCommand($"""
                CREATE FUNCTION {schema}.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF (CASE WHEN TG_OP = 'DELETE' THEN OLD.key ELSE NEW.key END) = '{refusedKey}' THEN
                        RAISE EXCEPTION 'refused';
                    END IF;
                    RETURN COALESCE(NEW, OLD);
                END $$;
                CREATE TRIGGER refuse BEFORE INSERT OR UPDATE OR DELETE ON {schema}.settings FOR EACH ROW EXECUTE FUNCTION {schema}.refuse();
                """, connection);
            await trigger.ExecuteNonQueryAsync();
        }

        await Assert.ThrowsAsync<KnowledgeStoreException>(() => QueryAdapterSettings.SaveAsync(store, adapter));
        await Assert.ThrowsAsync<KnowledgeStoreException>(() => QueryAdapterSettings.RemoveAsync(store));

        Assert.Equal(before, await QueryAdapterSettings.ReadWithStampAsync(store));
        Assert.Equal(1, (await QueryAdapterSettings.LoadAsync(store)).Adapter!.Info.Revision);
    }

    private static QueryAdapter Adapter(string modelId)
    {
        var random = new Random(3);
        var map = new float[Space.Dimension * Space.Dimension];
        for (var i = 0; i < map.Length; i++)
        {
            // Values with full float32 mantissas, so that a lossy encoding would show.
            map[i] = (i % (Space.Dimension + 1) == 0 ? 1f : 0f) + (float)((random.NextDouble() - 0.5) * 0.1);
        }

        var report = new AdapterModalityReport(QueryModality.Image, 40, 10, new AdapterMetrics(10, 0.5, 0.6), new AdapterMetrics(10, 0.7, 0.65), 4, 1, 12, Kept: true);
        return new QueryAdapter(modelId, Space.Dimension, null, map,
            [new AdapterBackground(QueryModality.Image, ItemKind.Image, 0.21, 0.05, 0.18, 0.06)],
            new QueryAdapterInfo(0, new DateTimeOffset(2026, 12, 6, 12, 0, 0, TimeSpan.Zero), 9, 123, new string('a', 64), [report]));
    }

    private static byte[] Bytes(ReadOnlySpan<float> values) => MemoryMarshal.AsBytes(values).ToArray();
}
