using System.Diagnostics;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Mmrag.Knowledge;
using Mmrag.Storage.ContractTests;
using Mmrag.Storage.Embedded.Indexing;
using Mmrag.Storage.Embedded.Tests.Indexing;

namespace Mmrag.Storage.Embedded.Tests;

/// <summary>What the embedded store does beyond the contract: its files, the persisted graph, the choice of search, SQLite's locking.</summary>
public sealed class EmbeddedKnowledgeStoreTests : IDisposable
{
    private static readonly EmbeddingSpace Space = new("test-model", 24);
    private readonly TemporaryFolder _root = new();

    public void Dispose() => _root.Dispose();

    private static EmbeddedStoreOptions Options(int exactThreshold = 200, bool background = false) => new()
    {
        ExactSearchThreshold = exactThreshold,
        BuildIndexInBackground = background,
        Hnsw = new HnswOptions { M = 8, EfConstruction = 60, MaxDegreeOfParallelism = 1 },
    };

    private static async Task<Corpus> FillAsync(IKnowledgeStore store, int count, int seed = 1)
    {
        Corpus corpus = Corpus.Build(count, store.Space.Dimension, seed);
        await corpus.StoreAsync(store);
        return corpus;
    }

    /// <summary>A dimension whose rows need no padding, so the index file is mapped rather than read (24 needs padding to 32).</summary>
    private static readonly EmbeddingSpace MappableSpace = new("test-model", 32);

    private static float[][] Queries(int count, int seed, EmbeddingSpace? space = null) =>
        Enumerable.Range(0, count).Select(i => ContractData.UnitVector(new Random(seed + i), (space ?? Space).Dimension)).ToArray();

    private static async Task<List<(string Id, double Score)>> SearchAllAsync(IKnowledgeStore store, float[][] queries)
    {
        var results = new List<(string, double)>();
        foreach (float[] query in queries)
        {
            results.AddRange((await store.SearchVectorsAsync(query, 10)).Select(h => (h.Item.Id, h.Score)));
        }

        return results;
    }

    // ------------------------------------------------------------------ files and schema

    [Fact]
    public async Task Open_NewFolder_CreatesWalDatabaseWithSchemaAndForeignKeys()
    {
        string folder = _root.NewFolder("kb");
        await using (EmbeddedKnowledgeStore store = await EmbeddedKnowledgeStore.OpenAsync(folder, Space, Options()))
        {
            await FillAsync(store, 40);
            Assert.Equal(Path.GetFullPath(folder), store.Folder);
        }

        Assert.True(File.Exists(Path.Combine(folder, "knowledge.db")));
        await using var connection = new SqliteConnection($"Data Source={Path.Combine(folder, "knowledge.db")};Pooling=False;Foreign Keys=True");
        await connection.OpenAsync();
        Assert.Equal("wal", await ScalarAsync(connection, "PRAGMA journal_mode"));
        Assert.Equal(4L, await ScalarAsync(connection, "SELECT version FROM schema_version"));
        Assert.Equal("test-model", await ScalarAsync(connection, "SELECT model_id FROM kb_info"));
        Assert.Equal(40L, await ScalarAsync(connection, "SELECT count(*) FROM items"));
        Assert.Equal(24L * 4, await ScalarAsync(connection, "SELECT length(vector) FROM items LIMIT 1"));
        await ScalarAsync(connection, "DELETE FROM documents WHERE id = 'doc00'");
        Assert.Equal(38L, await ScalarAsync(connection, "SELECT count(*) FROM items"));
        Assert.Equal(0L, await ScalarAsync(connection, "SELECT count(*) FROM items_fts WHERE items_fts MATCH 'zzz'"));
    }

    [Fact]
    public async Task Open_DatabaseOfANewerSchema_ThrowsNamingTheVersions()
    {
        string folder = _root.NewFolder();
        await (await EmbeddedKnowledgeStore.OpenAsync(folder, Space, Options())).DisposeAsync();
        await using (var connection = new SqliteConnection($"Data Source={Path.Combine(folder, "knowledge.db")};Pooling=False"))
        {
            await connection.OpenAsync();
            await ScalarAsync(connection, "UPDATE schema_version SET version = 99");
        }

        KnowledgeStoreException error = await Assert.ThrowsAsync<KnowledgeStoreException>(() => EmbeddedKnowledgeStore.OpenAsync(folder, Space, Options()));
        Assert.Contains("99", error.Message, StringComparison.Ordinal);
        Assert.Contains(Path.GetFullPath(folder), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Open_KnowledgeBaseOfSchemaVersionTwo_AddsTheFeedbackTableAndKeepsEverything()
    {
        // A knowledge base as the build before feedback left it: schema version 2, documents, items, a claim, a
        // failure and a setting, and no relevance_feedback table.
        string folder = _root.NewFolder();
        DocumentRecord document = ContractData.Document("doc", itemCount: 2);
        KnowledgeItem[] items =
        [
            ContractData.Item(document, 0, ContractData.UnitVector(new Random(1), Space.Dimension), "red circle"),
            ContractData.Item(document, 1, ContractData.UnitVector(new Random(2), Space.Dimension), "blue square"),
        ];
        await using (EmbeddedKnowledgeStore before = await EmbeddedKnowledgeStore.OpenAsync(folder, Space, Options()))
        {
            await before.UpsertDocumentAsync(document, items);
            Assert.True(await before.TryClaimAsync("next", "h1", "ingester", TimeSpan.FromMinutes(5)));
            await before.RecordFailureAsync(new IngestionFailure("/kb/broken.pdf", "unreadable", null, ContractData.Time));
            await before.SetSettingAsync("mmrag.model", "{\"id\":\"test-model\"}");
        }

        await using (var connection = new SqliteConnection($"Data Source={Path.Combine(folder, "knowledge.db")};Pooling=False"))
        {
            await connection.OpenAsync();
            await ScalarAsync(connection, "DROP TABLE relevance_feedback");
            await ScalarAsync(connection, "UPDATE schema_version SET version = 2");
        }

        await using (EmbeddedKnowledgeStore upgraded = await EmbeddedKnowledgeStore.OpenAsync(folder, Space, Options()))
        {
            Assert.Empty(await upgraded.ListJudgementsAsync());
            await upgraded.AddJudgementAsync(new RelevanceJudgement("j", FeedbackQueryModality.Text, "a red circle", null,
                ContractData.UnitVector(new Random(3), Space.Dimension), items[0].Id, true, Space.ModelId, "api", ContractData.Time));

            ContractData.AssertSameDocument(document, await upgraded.GetDocumentAsync(document.Id), expectedItemCount: 2);
            ContractData.AssertSameItem(items[1], await upgraded.GetItemAsync(items[1].Id));
            Assert.Equal(items[0].Id, (await upgraded.SearchVectorsAsync(items[0].Vector, 1)).Single().Item.Id);
            Assert.Equal(items[0].Id, (await upgraded.SearchKeywordsAsync("circle", 5)).Single().Item.Id);
            Assert.False(await upgraded.TryClaimAsync("next", "h1", "another", TimeSpan.FromMinutes(5)));
            Assert.Equal("/kb/broken.pdf", Assert.Single(await upgraded.ListFailuresAsync()).SourcePath);
            Assert.Equal("{\"id\":\"test-model\"}", await upgraded.GetSettingAsync("mmrag.model"));
        }

        await using (EmbeddedKnowledgeStore reopened = await EmbeddedKnowledgeStore.OpenAsync(folder, Space, Options()))
        {
            Assert.Equal("j", Assert.Single(await reopened.ListJudgementsAsync()).Id);
        }

        await using var check = new SqliteConnection($"Data Source={Path.Combine(folder, "knowledge.db")};Pooling=False");
        await check.OpenAsync();
        Assert.Equal(4L, await ScalarAsync(check, "SELECT version FROM schema_version"));
        Assert.Equal(1L, await ScalarAsync(check, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'ix_items_metadata'"));
        Assert.Equal(0L, await ScalarAsync(check, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'ix_items_kind'"));
    }

    [Fact]
    public async Task AddJudgement_QueryVector_IsStoredAsFloat32LittleEndian()
    {
        string folder = _root.NewFolder();
        float[] vector = ContractData.UnitVector(new Random(5), Space.Dimension);
        await using (EmbeddedKnowledgeStore store = await EmbeddedKnowledgeStore.OpenAsync(folder, Space, Options()))
        {
            await store.AddJudgementAsync(new RelevanceJudgement("j", FeedbackQueryModality.Image, null, "query.png", vector, "doc#0", false, Space.ModelId,
                "page", ContractData.Time));
        }

        await using var connection = new SqliteConnection($"Data Source={Path.Combine(folder, "knowledge.db")};Pooling=False");
        await connection.OpenAsync();
        var blob = (byte[])(await ScalarAsync(connection, "SELECT query_vector FROM relevance_feedback"))!;
        Assert.Equal(Space.Dimension * sizeof(float), blob.Length);
        Assert.Equal(vector[1], BitConverter.ToSingle(blob, sizeof(float)));
    }

    [Fact]
    public async Task Open_FolderThatCannotBeCreated_ThrowsKnowledgeStoreExceptionNamingIt()
    {
        string file = Path.Combine(_root.Path, "a-file");
        await File.WriteAllTextAsync(file, "not a folder");
        string folder = Path.Combine(file, "kb");
        KnowledgeStoreException error = await Assert.ThrowsAsync<KnowledgeStoreException>(() => EmbeddedKnowledgeStore.OpenAsync(folder, Space));
        Assert.Contains("embedded store at " + folder, error.Message, StringComparison.Ordinal);
        Assert.Contains("writable", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Open_DatabaseFileNotWritable_ThrowsKnowledgeStoreException()
    {
        string folder = _root.NewFolder();
        Directory.CreateDirectory(folder);
        // A directory where the database file should be: unopenable even for root, unlike permission bits.
        Directory.CreateDirectory(Path.Combine(folder, "knowledge.db"));
        KnowledgeStoreException error = await Assert.ThrowsAsync<KnowledgeStoreException>(() => EmbeddedKnowledgeStore.OpenAsync(folder, Space));
        Assert.Contains("opening the knowledge base failed", error.Message, StringComparison.Ordinal);
        Assert.Contains("writable", error.Message, StringComparison.Ordinal);
        Assert.IsType<SqliteException>(error.InnerException);
    }

    [Fact]
    public async Task OpenExisting_KnowledgeBase_UsesTheStoredSpace()
    {
        string folder = _root.NewFolder();
        await (await EmbeddedKnowledgeStore.OpenAsync(folder, Space, Options())).DisposeAsync();
        await using EmbeddedKnowledgeStore store = await EmbeddedKnowledgeStore.OpenExistingAsync(folder, Options());
        Assert.Equal(Space, store.Space);
    }

    [Fact]
    public async Task OpenExisting_NoKnowledgeBase_ThrowsAndCreatesNothing()
    {
        string folder = _root.NewFolder();
        KnowledgeStoreException error = await Assert.ThrowsAsync<KnowledgeStoreException>(() => EmbeddedKnowledgeStore.OpenExistingAsync(folder));
        Assert.Contains("no knowledge base", error.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(folder));
    }

    [Theory]
    [InlineData(nameof(EmbeddedStoreOptions.ExactSearchThreshold))]
    [InlineData(nameof(EmbeddedStoreOptions.FilteredExactFraction))]
    [InlineData(nameof(EmbeddedStoreOptions.CompactionDeadFraction))]
    [InlineData(nameof(EmbeddedStoreOptions.SaveIndexAfterChanges))]
    [InlineData(nameof(EmbeddedStoreOptions.KeywordCandidateBudget))]
    [InlineData(nameof(EmbeddedStoreOptions.MemoryMapSize))]
    [InlineData("M")]
    public async Task Open_InvalidOption_ThrowsNamingTheSetting(string setting)
    {
        void Break(EmbeddedStoreOptions options)
        {
            switch (setting)
            {
                case nameof(EmbeddedStoreOptions.ExactSearchThreshold): options.ExactSearchThreshold = -1; break;
                case nameof(EmbeddedStoreOptions.FilteredExactFraction): options.FilteredExactFraction = 2; break;
                case nameof(EmbeddedStoreOptions.CompactionDeadFraction): options.CompactionDeadFraction = 0; break;
                case nameof(EmbeddedStoreOptions.SaveIndexAfterChanges): options.SaveIndexAfterChanges = -5; break;
                case nameof(EmbeddedStoreOptions.KeywordCandidateBudget): options.KeywordCandidateBudget = 0; break;
                case nameof(EmbeddedStoreOptions.MemoryMapSize): options.MemoryMapSize = -1; break;
                default: options.Hnsw.M = 1; break;
            }
        }

        var options = new EmbeddedStoreOptions();
        Break(options);
        ArgumentOutOfRangeException error = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => EmbeddedKnowledgeStore.OpenAsync(_root.NewFolder(), Space, options));
        Assert.Contains(setting, error.Message, StringComparison.Ordinal);
        ArgumentOutOfRangeException atRegistration = Assert.Throws<ArgumentOutOfRangeException>(() =>
            new ServiceCollection().AddEmbeddedKnowledgeStore(_root.NewFolder(), Space, Break));
        Assert.Contains(setting, atRegistration.Message, StringComparison.Ordinal);
    }

    // ------------------------------------------------------------------ the persisted graph

    [Fact]
    public async Task Reopen_AfterDispose_LoadsTheGraphFromItsFileWithoutRebuilding()
    {
        string folder = _root.NewFolder();
        float[][] queries = Queries(8, 100);
        List<(string, double)> before;
        await using (EmbeddedKnowledgeStore store = await EmbeddedKnowledgeStore.OpenAsync(folder, Space, Options()))
        {
            await FillAsync(store, 600);
            Assert.True(store.IndexStatus.GraphReady);
            before = await SearchAllAsync(store, queries);
        }

        Assert.True(File.Exists(Path.Combine(folder, "vectors.hnsw")));
        await using EmbeddedKnowledgeStore reopened = await EmbeddedKnowledgeStore.OpenAsync(folder, Space, Options());
        EmbeddedIndexStatus status = reopened.IndexStatus;
        Assert.True(status.GraphLoadedFromFile);
        Assert.True(status.GraphReady);
        Assert.Equal(0, status.GraphBuilds);
        Assert.Null(status.IndexFileProblem);
        Assert.Equal(600, status.LiveVectors);
        Assert.Equal(before, await SearchAllAsync(reopened, queries));
        Assert.True(reopened.IndexStatus.GraphSearches >= queries.Length);
    }

    [Fact]
    public async Task Reopen_MappableIndexFile_GivesIdenticalResultsAndKeepsTakingWritesThatTheNextOpenSees()
    {
        string folder = _root.NewFolder();
        float[][] queries = Queries(8, 100, MappableSpace);
        List<(string, double)> before;
        await using (EmbeddedKnowledgeStore store = await EmbeddedKnowledgeStore.OpenAsync(folder, MappableSpace, Options()))
        {
            await FillAsync(store, 600);
            before = await SearchAllAsync(store, queries);
        }

        List<(string, double)> after;
        await using (EmbeddedKnowledgeStore reopened = await EmbeddedKnowledgeStore.OpenAsync(folder, MappableSpace, Options()))
        {
            Assert.True(reopened.IndexStatus.GraphLoadedFromFile, reopened.IndexStatus.IndexFileProblem);
            Assert.Equal(!OperatingSystem.IsWindows(), reopened.IndexStatus.IndexFileMapped);
            Assert.Equal(before, await SearchAllAsync(reopened, queries));
            DocumentRecord late = ContractData.Document("late", "/kb/late.md");
            await reopened.UpsertDocumentAsync(late, [ContractData.Item(late, 0, queries[0], "late")]);
            Assert.True(await reopened.DeleteDocumentAsync("doc05"));
            await reopened.SaveIndexAsync(); // written over the file that is mapped
            after = await SearchAllAsync(reopened, queries);
            Assert.Equal("late#0", after[0].Item1);
        }

        await using EmbeddedKnowledgeStore third = await EmbeddedKnowledgeStore.OpenAsync(folder, MappableSpace, Options());
        Assert.True(third.IndexStatus.GraphLoadedFromFile, third.IndexStatus.IndexFileProblem);
        Assert.Equal(0, third.IndexStatus.GraphBuilds);
        Assert.Equal(after, await SearchAllAsync(third, queries));
    }

    [Fact]
    public async Task Reopen_MapIndexFileOff_ReadsTheFileIntoMemoryWithIdenticalResults()
    {
        string folder = _root.NewFolder();
        float[][] queries = Queries(8, 150, MappableSpace);
        List<(string, double)> before;
        await using (EmbeddedKnowledgeStore store = await EmbeddedKnowledgeStore.OpenAsync(folder, MappableSpace, Options()))
        {
            await FillAsync(store, 500);
            before = await SearchAllAsync(store, queries);
        }

        EmbeddedStoreOptions copied = Options();
        copied.MapIndexFile = false;
        await using EmbeddedKnowledgeStore reopened = await EmbeddedKnowledgeStore.OpenAsync(folder, MappableSpace, copied);
        Assert.True(reopened.IndexStatus.GraphLoadedFromFile, reopened.IndexStatus.IndexFileProblem);
        Assert.False(reopened.IndexStatus.IndexFileMapped);
        Assert.Equal(before, await SearchAllAsync(reopened, queries));
    }

    [Fact]
    public async Task Reopen_FromIndexFile_EveryFilterGivesTheSameHitsAsBeforeClosing()
    {
        string folder = _root.NewFolder();
        float[][] queries = Queries(5, 700, MappableSpace);
        async Task<List<string>> SearchEveryFilterAsync(EmbeddedKnowledgeStore store)
        {
            var results = new List<string>();
            foreach ((string name, SearchFilter filter) in Corpus.FilterCases)
            {
                foreach (float[] query in queries)
                {
                    IReadOnlyList<StoreHit> hits = await store.SearchVectorsAsync(query, 12, filter);
                    results.Add($"{name}: {string.Join(' ', hits.Select(h => $"{h.Item.Id}={h.Score:R}"))}");
                }
            }

            return results;
        }

        List<string> before;
        await using (EmbeddedKnowledgeStore store = await EmbeddedKnowledgeStore.OpenAsync(folder, MappableSpace, Options(exactThreshold: 300)))
        {
            await FillAsync(store, 1000);
            Assert.True(await store.DeleteDocumentAsync("doc03"));
            before = await SearchEveryFilterAsync(store);
        }

        // The slots' kinds, documents, paths, tags and content hashes are read back from the database's covering index.
        await using EmbeddedKnowledgeStore reopened = await EmbeddedKnowledgeStore.OpenAsync(folder, MappableSpace, Options(exactThreshold: 300));
        Assert.True(reopened.IndexStatus.GraphLoadedFromFile, reopened.IndexStatus.IndexFileProblem);
        Assert.Equal(before, await SearchEveryFilterAsync(reopened));
    }

    [Fact]
    public async Task Reopen_MappableIndexFileWithAVectorByteFlipped_IsRejectedByItsChecksumAndRebuilt()
    {
        string folder = _root.NewFolder();
        string indexPath = Path.Combine(folder, "vectors.hnsw");
        float[][] queries = Queries(6, 300, MappableSpace);
        List<(string, double)> expected;
        await using (EmbeddedKnowledgeStore store = await EmbeddedKnowledgeStore.OpenAsync(folder, MappableSpace, Options()))
        {
            await FillAsync(store, 450);
            expected = await SearchAllAsync(store, queries);
        }

        // The file's header and slot map (to a multiple of 64), the graph's header, levels, tombstones and padding to a
        // multiple of 64 come before the vectors, which loading a mapped file never reads.
        int graph = ((64 + (450 * 8) + 8) + 63) & ~63;
        int vectors = graph + ((128 + 450 + (8 * 8) + 63) & ~63);
        byte[] bytes = await File.ReadAllBytesAsync(indexPath);
        bytes[vectors + (200 * 32 * sizeof(float)) + 5] ^= 0x10;
        await File.WriteAllBytesAsync(indexPath, bytes);

        await using EmbeddedKnowledgeStore reopened = await EmbeddedKnowledgeStore.OpenAsync(folder, MappableSpace, Options());
        Assert.False(reopened.IndexStatus.GraphLoadedFromFile);
        Assert.Contains("checksum", reopened.IndexStatus.IndexFileProblem, StringComparison.Ordinal);
        Assert.Equal(expected, await SearchAllAsync(reopened, queries));
    }

    [Fact]
    public async Task Reopen_IndexFileOfTheFirstFormat_LoadsWithoutRebuildingAndIsSavedInTheCurrentOne()
    {
        string folder = _root.NewFolder();
        string indexPath = Path.Combine(folder, "vectors.hnsw");
        float[][] queries = Queries(6, 400, MappableSpace);
        List<(string, double)> expected;
        await using (EmbeddedKnowledgeStore store = await EmbeddedKnowledgeStore.OpenAsync(folder, MappableSpace, Options()))
        {
            await FillAsync(store, 500);
            expected = await SearchAllAsync(store, queries);
        }

        await File.WriteAllBytesAsync(indexPath, LegacyIndexFormat.IndexFileToVersion1(await File.ReadAllBytesAsync(indexPath)));
        await using (EmbeddedKnowledgeStore reopened = await EmbeddedKnowledgeStore.OpenAsync(folder, MappableSpace, Options()))
        {
            Assert.True(reopened.IndexStatus.GraphLoadedFromFile, reopened.IndexStatus.IndexFileProblem);
            Assert.Equal(0, reopened.IndexStatus.GraphBuilds);
            Assert.Equal(expected, await SearchAllAsync(reopened, queries));
        }

        Assert.Equal(2, BitConverter.ToInt32(await File.ReadAllBytesAsync(indexPath), 8));
        await using EmbeddedKnowledgeStore upgraded = await EmbeddedKnowledgeStore.OpenAsync(folder, MappableSpace, Options());
        Assert.True(upgraded.IndexStatus.GraphLoadedFromFile, upgraded.IndexStatus.IndexFileProblem);
        Assert.Equal(expected, await SearchAllAsync(upgraded, queries));
    }

    [Fact]
    public async Task Reopen_IndexFileSavedBeforeLaterWrites_CatchesUpWithoutRebuildingAndFindsTheSameItems()
    {
        string folder = _root.NewFolder();
        string indexPath = Path.Combine(folder, "vectors.hnsw");
        string oldCopy = Path.Combine(_root.Path, "old.hnsw");
        float[][] queries = Queries(8, 200);
        List<(string, double)> expected;
        await using (EmbeddedKnowledgeStore store = await EmbeddedKnowledgeStore.OpenAsync(folder, Space, Options()))
        {
            await FillAsync(store, 500);
            await store.SaveIndexAsync();
            File.Copy(indexPath, oldCopy);
            // After the save: one document added, one deleted (a crash here leaves the older file beside the database).
            DocumentRecord late = ContractData.Document("late", "/kb/late.md");
            await store.UpsertDocumentAsync(late, [ContractData.Item(late, 0, queries[0], "late")]);
            Assert.True(await store.DeleteDocumentAsync("doc05"));
            expected = await SearchAllAsync(store, queries);
        }

        File.Copy(oldCopy, indexPath, overwrite: true);
        await using EmbeddedKnowledgeStore reopened = await EmbeddedKnowledgeStore.OpenAsync(folder, Space, Options());
        EmbeddedIndexStatus status = reopened.IndexStatus;
        Assert.True(status.GraphLoadedFromFile, status.IndexFileProblem);
        Assert.Equal(0, status.GraphBuilds);
        Assert.Equal(476, status.LiveVectors);
        Assert.Equal(expected, await SearchAllAsync(reopened, queries));
        Assert.Equal("late#0", expected[0].Item1);
        Assert.DoesNotContain(expected, hit => hit.Item1.StartsWith("doc05", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Reopen_DatabaseOlderThanIndexFile_IsRebuiltFromTheDatabase()
    {
        string folder = _root.NewFolder();
        string database = Path.Combine(folder, "knowledge.db");
        string oldDatabase = Path.Combine(_root.Path, "old.db");
        float[][] queries = Queries(6, 300);
        List<(string, double)> expected;
        await using (EmbeddedKnowledgeStore store = await EmbeddedKnowledgeStore.OpenAsync(folder, Space, Options()))
        {
            await FillAsync(store, 400);
            expected = await SearchAllAsync(store, queries);
        }

        File.Copy(database, oldDatabase);
        await using (EmbeddedKnowledgeStore store = await EmbeddedKnowledgeStore.OpenAsync(folder, Space, Options()))
        {
            DocumentRecord late = ContractData.Document("late", "/kb/late.md");
            await store.UpsertDocumentAsync(late, [ContractData.Item(late, 0, queries[0], "late")]);
        }

        // The database restored from the older copy; the index file describes an item the database never had.
        File.Copy(oldDatabase, database, overwrite: true);
        await using (EmbeddedKnowledgeStore reopened = await EmbeddedKnowledgeStore.OpenAsync(folder, Space, Options()))
        {
            Assert.False(reopened.IndexStatus.GraphLoadedFromFile);
            Assert.Contains("generation", reopened.IndexStatus.IndexFileProblem, StringComparison.Ordinal);
            Assert.Equal(400, reopened.IndexStatus.LiveVectors);
            Assert.Equal(expected, await SearchAllAsync(reopened, queries));
        }
    }

    [Fact]
    public async Task Reopen_RestoredDatabaseWrittenPastTheIndexFilesGeneration_NeverLoadsThatFile()
    {
        string folder = _root.NewFolder();
        string database = Path.Combine(folder, "knowledge.db");
        string oldDatabase = Path.Combine(_root.Path, "old.db");
        float[][] queries = Queries(3, 500);
        await using (EmbeddedKnowledgeStore store = await EmbeddedKnowledgeStore.OpenAsync(folder, Space, Options()))
        {
            await FillAsync(store, 300);
        }

        File.Copy(database, oldDatabase);
        await using (EmbeddedKnowledgeStore store = await EmbeddedKnowledgeStore.OpenAsync(folder, Space, Options()))
        {
            DocumentRecord late = ContractData.Document("late", "/kb/late.md");
            await store.UpsertDocumentAsync(late, [ContractData.Item(late, 0, queries[0], "late")]);
        }

        // Restored, then written to by a store that never builds a graph (so nothing rewrites the file) until the
        // restored history's generation passes the file's, with rowids the file gives to another item.
        File.Copy(oldDatabase, database, overwrite: true);
        await using (EmbeddedKnowledgeStore small = await EmbeddedKnowledgeStore.OpenAsync(folder, Space, Options(exactThreshold: 100_000)))
        {
            for (int i = 0; i < 3; i++)
            {
                DocumentRecord other = ContractData.Document($"other{i}", $"/kb/other{i}.md");
                await small.UpsertDocumentAsync(other, [ContractData.Item(other, 0, queries[i], "other")]);
            }
        }

        await using EmbeddedKnowledgeStore reopened = await EmbeddedKnowledgeStore.OpenAsync(folder, Space, Options());
        Assert.False(reopened.IndexStatus.GraphLoadedFromFile);
        Assert.Equal(303, reopened.IndexStatus.LiveVectors);
        Assert.Equal("other1#0", (await reopened.SearchVectorsAsync(queries[1], 1))[0].Item.Id);
    }

    [Theory]
    [InlineData("truncated", false)]
    [InlineData("payload byte flipped", false)]
    [InlineData("header byte flipped", false)]
    [InlineData("slot map byte flipped", false)]
    [InlineData("empty", false)]
    [InlineData("not an index", false)]
    [InlineData("truncated", true)]
    [InlineData("truncated in the links", true)]
    [InlineData("payload byte flipped", true)]
    [InlineData("header byte flipped", true)]
    [InlineData("slot map byte flipped", true)]
    public async Task Reopen_CorruptIndexFile_IsRebuiltWithIdenticalResults(string damage, bool mapped)
    {
        EmbeddingSpace space = mapped ? MappableSpace : Space;
        string folder = _root.NewFolder();
        string indexPath = Path.Combine(folder, "vectors.hnsw");
        float[][] queries = Queries(6, 300, space);
        List<(string, double)> expected;
        await using (EmbeddedKnowledgeStore store = await EmbeddedKnowledgeStore.OpenAsync(folder, space, Options()))
        {
            await FillAsync(store, 450);
            expected = await SearchAllAsync(store, queries);
        }

        byte[] bytes = await File.ReadAllBytesAsync(indexPath);
        switch (damage)
        {
            case "truncated": bytes = bytes[..(bytes.Length / 2)]; break;
            case "truncated in the links": bytes = bytes[..(bytes.Length - 300)]; break;
            case "payload byte flipped": bytes[bytes.Length * 3 / 4] ^= 0x40; break;
            case "header byte flipped": bytes[20] ^= 0x01; break;
            case "slot map byte flipped": bytes[64 + 8] ^= 0x01; break;
            case "empty": bytes = []; break;
            default: bytes = "SQLite format 3\0 definitely not a graph"u8.ToArray(); break;
        }

        await File.WriteAllBytesAsync(indexPath, bytes);
        await using EmbeddedKnowledgeStore reopened = await EmbeddedKnowledgeStore.OpenAsync(folder, space, Options());
        Assert.False(reopened.IndexStatus.GraphLoadedFromFile);
        Assert.NotNull(reopened.IndexStatus.IndexFileProblem);
        Assert.True(reopened.IndexStatus.GraphReady);
        Assert.Equal(expected, await SearchAllAsync(reopened, queries));
    }

    [Fact]
    public async Task Open_IndexFileOfAnotherKnowledgeBase_IsRejected()
    {
        string first = _root.NewFolder();
        string second = _root.NewFolder();
        foreach (string folder in (string[])[first, second])
        {
            await using EmbeddedKnowledgeStore store = await EmbeddedKnowledgeStore.OpenAsync(folder, Space, Options());
            await FillAsync(store, 300);
        }

        File.Copy(Path.Combine(first, "vectors.hnsw"), Path.Combine(second, "vectors.hnsw"), overwrite: true);
        await using EmbeddedKnowledgeStore reopened = await EmbeddedKnowledgeStore.OpenAsync(second, Space, Options());
        Assert.False(reopened.IndexStatus.GraphLoadedFromFile);
        Assert.Contains("another knowledge base", reopened.IndexStatus.IndexFileProblem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Open_CopyTakenWhileWritesWereUnsaved_AsAfterACrash_CatchesUpFromTheSavedGraphAndServesEverything()
    {
        string folder = _root.NewFolder();
        string crashed = _root.NewFolder();
        float[][] queries = Queries(6, 400);
        await using EmbeddedKnowledgeStore store = await EmbeddedKnowledgeStore.OpenAsync(folder, Space, Options());
        await FillAsync(store, 400);
        await store.SaveIndexAsync();
        Corpus more = Corpus.Build(100, Space.Dimension, 7, documentCount: 3);
        await store.UpsertDocumentAsync(ContractData.Document("more", "/kb/more.md"),
            more.Items.Select((item, i) => item with { Id = $"more#{i}", DocumentId = "more" }).ToArray());
        Assert.True(await store.DeleteDocumentAsync("doc05"));
        List<(string, double)> expected = await SearchAllAsync(store, queries);

        // The files as a killed process leaves them: committed transactions in the log, the graph from before them.
        Directory.CreateDirectory(crashed);
        foreach (string name in (string[])["knowledge.db", "knowledge.db-wal", "vectors.hnsw"])
        {
            File.Copy(Path.Combine(folder, name), Path.Combine(crashed, name));
        }

        await using EmbeddedKnowledgeStore recovered = await EmbeddedKnowledgeStore.OpenAsync(crashed, Space, Options());
        // The saved graph plus the 100 rows added since (the deleted document's rows dead): no rebuild of the rest.
        Assert.True(recovered.IndexStatus.GraphLoadedFromFile, recovered.IndexStatus.IndexFileProblem);
        Assert.Equal(0, recovered.IndexStatus.GraphBuilds);
        Assert.Equal(480, recovered.IndexStatus.LiveVectors);
        List<(string Id, double Score)> actual = await SearchAllAsync(recovered, queries);
        Assert.True(actual.Select(h => h.Id).Intersect(expected.Select(h => h.Item1)).Count() >= 0.9 * expected.Count);
        Assert.Null(await recovered.GetDocumentAsync("doc05"));
        Assert.NotNull(await recovered.GetItemAsync("more#99"));
    }

    [Fact]
    public async Task Open_LeftoverTemporaryIndexFile_IsDeleted()
    {
        string folder = _root.NewFolder();
        await (await EmbeddedKnowledgeStore.OpenAsync(folder, Space, Options())).DisposeAsync();
        string leftover = Path.Combine(folder, "vectors.hnsw.0123456789abcdef.tmp");
        await File.WriteAllBytesAsync(leftover, new byte[100]);
        await (await EmbeddedKnowledgeStore.OpenAsync(folder, Space, Options())).DisposeAsync();
        Assert.False(File.Exists(leftover));
    }

    [Fact]
    public async Task Graph_StaleOnOpenWithBackgroundBuilds_SearchesStayCorrectAndTheGraphIsSaved()
    {
        string folder = _root.NewFolder();
        float[][] queries = Queries(5, 500);
        List<(string, double)> expected;
        Corpus corpus;
        await using (EmbeddedKnowledgeStore store = await EmbeddedKnowledgeStore.OpenAsync(folder, Space, Options()))
        {
            corpus = await FillAsync(store, 400);
            expected = await SearchAllAsync(store, queries);
        }

        File.Delete(Path.Combine(folder, "vectors.hnsw"));
        await using EmbeddedKnowledgeStore reopened = await EmbeddedKnowledgeStore.OpenAsync(folder, Space, Options(background: true));
        foreach (float[] query in queries)
        {
            // Exact until the graph is ready, the graph after: either way (nearly) the true top 10.
            string[] truth = ContractData.BruteForceTopK(corpus.Items, query, 10);
            IReadOnlyList<StoreHit> meanwhile = await reopened.SearchVectorsAsync(query, 10);
            Assert.True(meanwhile.Count(h => truth.Contains(h.Item.Id)) >= 9);
        }

        await reopened.WaitForIndexAsync();
        Assert.True(reopened.IndexStatus.GraphReady);
        Assert.Equal(1, reopened.IndexStatus.GraphBuilds);
        Assert.True(File.Exists(Path.Combine(folder, "vectors.hnsw")));
        Assert.Equal(expected, await SearchAllAsync(reopened, queries));
    }

    [Fact]
    public async Task Graph_CollectionGrowsPastTheThreshold_GraphIsBuiltAndKeptUpToDate()
    {
        await using EmbeddedKnowledgeStore store = await EmbeddedKnowledgeStore.OpenAsync(_root.NewFolder(), Space, Options(exactThreshold: 100));
        await FillAsync(store, 60);
        Assert.False(store.IndexStatus.GraphReady);
        await FillAsync(store, 240, seed: 2); // same ids: replaces the first 60 and adds more
        Assert.True(store.IndexStatus.GraphReady);
        Assert.Equal(240, store.IndexStatus.LiveVectors);
        DocumentRecord late = ContractData.Document("late", "/kb/late.md");
        float[] vector = ContractData.UnitVector(new Random(3), Space.Dimension);
        await store.UpsertDocumentAsync(late, [ContractData.Item(late, 0, vector)]);
        long graphSearches = store.IndexStatus.GraphSearches;
        Assert.Equal("late#0", (await store.SearchVectorsAsync(vector, 1))[0].Item.Id);
        Assert.Equal(graphSearches + 1, store.IndexStatus.GraphSearches);
    }

    // ------------------------------------------------------------------ exact or graph

    [Fact]
    public async Task Search_SmallCollectionOrSelectiveFilter_IsExact_LargeUnfilteredUsesTheGraph()
    {
        await using EmbeddedKnowledgeStore store = await EmbeddedKnowledgeStore.OpenAsync(_root.NewFolder(), Space, Options(exactThreshold: 300));
        Corpus corpus = await FillAsync(store, 1000);
        float[] query = Queries(1, 600)[0];

        EmbeddedIndexStatus s0 = store.IndexStatus;
        await store.SearchVectorsAsync(query, 10);
        EmbeddedIndexStatus s1 = store.IndexStatus;
        Assert.Equal((s0.GraphSearches + 1, s0.ExactSearches), (s1.GraphSearches, s1.ExactSearches));

        // Two of twenty documents: 100 candidates, under the threshold.
        var selective = new SearchFilter { DocumentIds = ["doc01", "doc02"] };
        IReadOnlyList<StoreHit> hits = await store.SearchVectorsAsync(query, 10, selective);
        EmbeddedIndexStatus s2 = store.IndexStatus;
        Assert.Equal((s1.GraphSearches, s1.ExactSearches + 1), (s2.GraphSearches, s2.ExactSearches));
        Assert.Equal(ContractData.BruteForceTopK(corpus.Items, query, 10, selective), hits.Select(h => h.Item.Id));

        // Half the collection: 500 candidates, over the threshold and over the fraction.
        await store.SearchVectorsAsync(query, 10, new SearchFilter { PathPrefix = "/kb/a/" });
        Assert.Equal(s2.GraphSearches + 1, store.IndexStatus.GraphSearches);

        await using EmbeddedKnowledgeStore small = await EmbeddedKnowledgeStore.OpenAsync(_root.NewFolder(), Space, Options(exactThreshold: 300));
        await FillAsync(small, 250);
        await small.SearchVectorsAsync(query, 10);
        Assert.False(small.IndexStatus.GraphReady);
        Assert.Equal((0L, 1L), (small.IndexStatus.GraphSearches, small.IndexStatus.ExactSearches));
    }

    [Fact]
    public async Task Search_RecallOne_ScansExactly_LowerRecallWalksTheGraph()
    {
        await using EmbeddedKnowledgeStore store = await EmbeddedKnowledgeStore.OpenAsync(_root.NewFolder(), Space, Options(exactThreshold: 300));
        await FillAsync(store, 1000);
        float[] query = Queries(1, 601)[0];

        EmbeddedIndexStatus s0 = store.IndexStatus;
        await store.SearchVectorsAsync(query, 10, recall: SearchRecall.Exact);
        EmbeddedIndexStatus s1 = store.IndexStatus;
        Assert.Equal((s0.GraphSearches, s0.ExactSearches + 1), (s1.GraphSearches, s1.ExactSearches));

        await store.SearchVectorsAsync(query, 10, recall: 0.95);
        Assert.Equal((s1.GraphSearches + 1, s1.ExactSearches), (store.IndexStatus.GraphSearches, store.IndexStatus.ExactSearches));
    }

    [Fact]
    public async Task SearchVectorsExact_ManyQueriesAndFilters_MatchOneExactSearchPerQuery()
    {
        await using EmbeddedKnowledgeStore store = await EmbeddedKnowledgeStore.OpenAsync(_root.NewFolder(), Space, Options(exactThreshold: 300));
        await FillAsync(store, 1000);
        await store.DeleteDocumentAsync("doc03"); // tombstones in the index
        // Unnormalized queries: the store normalizes each one as a single search does.
        ReadOnlyMemory<float>[] queries = [.. Queries(31, 900).Select((q, i) => (ReadOnlyMemory<float>)q.Select(x => x * (1 + (i % 3))).ToArray())];
        EmbeddedIndexStatus before = store.IndexStatus;

        foreach ((string name, SearchFilter filter) in Corpus.FilterCases.Prepend(("none", null!)))
        {
            IReadOnlyList<IReadOnlyList<StoreHit>> batch = await store.SearchVectorsExactAsync(queries, 12, filter);

            Assert.Equal(queries.Length, batch.Count);
            for (int q = 0; q < queries.Length; q++)
            {
                IReadOnlyList<StoreHit> single = await store.SearchVectorsAsync(queries[q], 12, filter, recall: SearchRecall.Exact);
                Assert.True(single.Select(h => (h.Item.Id, h.Score)).SequenceEqual(batch[q].Select(h => (h.Item.Id, h.Score))), $"filter {name}, query {q}");
            }
        }

        Assert.Equal(0, store.IndexStatus.GraphSearches - before.GraphSearches);
        Assert.Empty(await store.SearchVectorsExactAsync([], 5));
        Assert.All(await store.SearchVectorsExactAsync(queries, 0), Assert.Empty);
        await Assert.ThrowsAsync<ArgumentException>(() => store.SearchVectorsExactAsync([new float[Space.Dimension + 1]], 5));
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => store.SearchVectorsExactAsync(queries, 5, cancellationToken: cancelled.Token));
    }

    [Fact]
    public async Task SearchVectorsExact_WritesReplacingItsHitsMeanwhile_ExactInOneStateAndWritersNeverWaitForTheBatch()
    {
        var space = new EmbeddingSpace("test-model", 256);
        const int Documents = 500, PerDocument = 20, K = 10;
        await using EmbeddedKnowledgeStore store = await EmbeddedKnowledgeStore.OpenAsync(_root.NewFolder(), space, Options(exactThreshold: 100_000));
        // Each write stores a document again with the same vectors under new item ids (its version): every state of the
        // store has the same vectors, so the exact top k's scores are known whatever state a search sees.
        float[][] vectors = ContractData.ClusteredVectors(Documents * PerDocument, space.Dimension, 40, seed: 5);
        Task StoreAsync(int d, int version)
        {
            DocumentRecord document = ContractData.Document($"doc{d:000}");
            return store.UpsertDocumentAsync(document,
                [.. Enumerable.Range(0, PerDocument).Select(p => ContractData.Item(document, p, vectors[(d * PerDocument) + p], id: $"doc{d:000}#v{version}-{p}"))]);
        }

        for (int d = 0; d < Documents; d++)
        {
            await StoreAsync(d, 0);
        }

        ReadOnlyMemory<float>[] queries = [.. Queries(600, 77, space).Select(static q => (ReadOnlyMemory<float>)q)];
        var alone = Stopwatch.StartNew();
        await store.SearchVectorsExactAsync(queries, K);
        alone.Stop();

        using var stop = new CancellationTokenSource();
        TimeSpan longestWrite = TimeSpan.Zero;
        int writes = 0;
        Task writer = Task.Run(async () =>
        {
            for (int version = 1; !stop.IsCancellationRequested; version++)
            {
                for (int d = 0; d < Documents && !stop.IsCancellationRequested; d++)
                {
                    var write = Stopwatch.StartNew();
                    await StoreAsync(d, version);
                    longestWrite = TimeSpan.FromTicks(Math.Max(longestWrite.Ticks, write.Elapsed.Ticks));
                    writes++;
                }
            }
        });
        await Task.Delay(50); // the writer is writing before the batch starts
        IReadOnlyList<IReadOnlyList<StoreHit>> batch = await store.SearchVectorsExactAsync(queries, K);
        await stop.CancelAsync();
        await writer;

        for (int q = 0; q < queries.Length; q += 10)
        {
            float[] query = queries[q].ToArray();
            double[] expected = [.. vectors.Select(v => ContractData.Dot(query, v)).OrderDescending().Take(K)];
            Assert.Equal(K, batch[q].Count);
            for (int i = 0; i < K; i++)
            {
                Assert.Equal(expected[i], batch[q][i].Score, 1e-4);
                Assert.Equal(batch[q][i].Score, ContractData.Dot(query, batch[q][i].Item.Vector.Span), 1e-4);
            }
        }

        // One state: the hits of a document all come from one of its versions.
        Assert.All(batch.SelectMany(static hits => hits).GroupBy(static h => h.Item.DocumentId),
            g => Assert.Single(g.Select(static h => h.Item.Id.Split('-')[0]).Distinct()));
        Assert.True(writes > 10, $"only {writes} writes ran beside the batch");
        // A write may wait for the pinning of the batch's snapshot, never for the batch (generous: a third of one batch alone).
        Assert.True(longestWrite < alone.Elapsed / 3, $"a write waited {longestWrite.TotalMilliseconds:F0} ms; the batch alone takes {alone.Elapsed.TotalMilliseconds:F0} ms");
    }

    [Fact]
    public async Task Compaction_AfterManyReplacements_ReclaimsDeadSlotsAndKeepsResultsExact()
    {
        await using EmbeddedKnowledgeStore store = await EmbeddedKnowledgeStore.OpenAsync(_root.NewFolder(), Space, Options(exactThreshold: 100_000));
        Corpus corpus = Corpus.Build(700, Space.Dimension, 9);
        await corpus.StoreAsync(store);
        await corpus.StoreAsync(store);
        Assert.Equal(700, store.IndexStatus.LiveVectors);
        Assert.Equal(1400, store.IndexStatus.Slots);
        await corpus.StoreAsync(store); // dead slots pass 1024 (and 30 %) part-way: compacted then
        Assert.True(store.IndexStatus.Slots <= 1100, $"{store.IndexStatus.Slots} slots");
        Assert.Equal(700, store.IndexStatus.LiveVectors);
        foreach (float[] query in Queries(5, 700))
        {
            Assert.Equal(ContractData.BruteForceTopK(corpus.Items, query, 10), (await store.SearchVectorsAsync(query, 10)).Select(h => h.Item.Id));
        }
    }

    [Fact]
    public async Task Graph_SaveAfterChanges_WritesTheFileWithoutWaitingForDispose()
    {
        EmbeddedStoreOptions options = Options(exactThreshold: 100);
        options.SaveIndexAfterChanges = 150;
        string folder = _root.NewFolder();
        await using EmbeddedKnowledgeStore store = await EmbeddedKnowledgeStore.OpenAsync(folder, Space, options);
        await FillAsync(store, 400);
        Assert.True(store.IndexStatus.IndexSaves >= 2, $"{store.IndexStatus.IndexSaves} saves");
        Assert.True(File.Exists(Path.Combine(folder, "vectors.hnsw")));
    }

    [Fact]
    public async Task Graph_SaveAfterEveryChange_StillWaitsForATenthOfTheIndexBetweenSaves()
    {
        // Each save writes the whole graph: saving after every write would write a large knowledge base's file once per document.
        EmbeddedStoreOptions options = Options(exactThreshold: 100);
        options.SaveIndexAfterChanges = 1;
        string folder = _root.NewFolder();
        await using EmbeddedKnowledgeStore store = await EmbeddedKnowledgeStore.OpenAsync(folder, Space, options);
        for (int batch = 0; batch < 40; batch++)
        {
            DocumentRecord document = ContractData.Document($"batch{batch:D2}");
            float[][] vectors = Queries(50, 1000 + (batch * 50));
            await store.UpsertDocumentAsync(document, [.. vectors.Select((v, i) => ContractData.Item(document, i, v))]);
        }

        Assert.Equal(2000, store.IndexStatus.LiveVectors);

        // 2,000 items in 40 writes of 50: a save per write once the graph exists would be 38; a tenth of the index
        // between saves allows one per write only until 500 items, then every other, third … write.
        int saves = store.IndexStatus.IndexSaves;
        Assert.InRange(saves, 5, 25);
    }

    // ------------------------------------------------------------------ concurrency with SQLite and other processes

    [Fact]
    public async Task Readers_WhileAnotherConnectionHoldsAnOpenWriteTransaction_AreNotBlocked()
    {
        string folder = _root.NewFolder();
        await using EmbeddedKnowledgeStore store = await EmbeddedKnowledgeStore.OpenAsync(folder, Space, Options());
        Corpus corpus = await FillAsync(store, 100);
        await using var writer = new SqliteConnection($"Data Source={Path.Combine(folder, "knowledge.db")};Pooling=False");
        await writer.OpenAsync();
        await using SqliteTransaction tx = writer.BeginTransaction(deferred: false);
        await ScalarAsync(writer, "INSERT INTO settings(key, value) VALUES ('pending', 'uncommitted')", tx);

        Task reads = Task.Run(async () =>
        {
            Assert.NotNull(await store.GetItemAsync(corpus.Items[0].Id));
            Assert.NotEmpty(await store.SearchKeywordsAsync("harbour", 5));
            Assert.Equal(5, (await store.SearchVectorsAsync(corpus.Items[1].Vector, 5)).Count);
            Assert.Null(await store.GetSettingAsync("pending"));
            Assert.Equal(20, (await store.GetStatsAsync()).Documents);
        });
        Assert.Same(reads, await Task.WhenAny(reads, Task.Delay(TimeSpan.FromSeconds(10))));
        await reads;
        await tx.RollbackAsync();
    }

    [Fact]
    public async Task Write_WhileAnotherProcessHoldsTheWriteLock_FailsAfterTheBusyTimeoutNamingTheStore()
    {
        string folder = _root.NewFolder();
        EmbeddedStoreOptions options = Options();
        options.BusyTimeout = TimeSpan.FromMilliseconds(300);
        await using EmbeddedKnowledgeStore store = await EmbeddedKnowledgeStore.OpenAsync(folder, Space, options);
        await using var writer = new SqliteConnection($"Data Source={Path.Combine(folder, "knowledge.db")};Pooling=False");
        await writer.OpenAsync();
        await using (SqliteTransaction tx = writer.BeginTransaction(deferred: false))
        {
            DocumentRecord doc = ContractData.Document("blocked");
            KnowledgeStoreException error = await Assert.ThrowsAsync<KnowledgeStoreException>(() =>
                store.UpsertDocumentAsync(doc, [ContractData.Item(doc, 0, Queries(1, 800)[0])]));
            Assert.Contains("embedded store at", error.Message, StringComparison.Ordinal);
            Assert.Contains("storing document blocked", error.Message, StringComparison.Ordinal);
            await tx.RollbackAsync();
        }

        DocumentRecord again = ContractData.Document("after");
        await store.UpsertDocumentAsync(again, [ContractData.Item(again, 0, Queries(1, 801)[0])]);
        Assert.NotNull(await store.GetItemAsync("after#0"));
    }

    [Fact]
    public async Task TwoStoresOnOneFolder_EachSeesTheOthersCommittedWrites()
    {
        string folder = _root.NewFolder();
        await using EmbeddedKnowledgeStore first = await EmbeddedKnowledgeStore.OpenAsync(folder, Space, Options());
        await using EmbeddedKnowledgeStore second = await EmbeddedKnowledgeStore.OpenAsync(folder, Space, Options());
        await FillAsync(first, 300);
        float[] query = Queries(1, 900)[0];
        Assert.Equal(10, (await second.SearchVectorsAsync(query, 10)).Count);

        DocumentRecord mine = ContractData.Document("mine", "/kb/mine.md");
        await second.UpsertDocumentAsync(mine, [ContractData.Item(mine, 0, query, "mine")]);
        Assert.Equal("mine#0", (await first.SearchVectorsAsync(query, 1))[0].Item.Id);
        Assert.True(await first.DeleteDocumentAsync("mine"));
        Assert.NotEqual("mine#0", (await second.SearchVectorsAsync(query, 1))[0].Item.Id);
        Assert.Equal(300, second.IndexStatus.LiveVectors);
        Assert.Equal(first.IndexStatus.Generation, second.IndexStatus.Generation);
    }

    // ------------------------------------------------------------------ wiring

    [Fact]
    public async Task AddEmbeddedKnowledgeStore_ResolvesOneStoreForEveryService()
    {
        string folder = _root.NewFolder();
        var services = new ServiceCollection().AddEmbeddedKnowledgeStore(folder, Space, o => o.ExactSearchThreshold = 10);
        await using (ServiceProvider provider = services.BuildServiceProvider())
        {
            var store = provider.GetRequiredService<EmbeddedKnowledgeStore>();
            Assert.Same(store, provider.GetRequiredService<IKnowledgeStore>());
            Assert.Same(store, provider.GetRequiredService<IIngestionWorkClaims>());
            Assert.Equal(Space, store.Space);
        }

        Assert.True(File.Exists(Path.Combine(folder, "knowledge.db")));
    }

    [Fact]
    public async Task Operations_AfterDispose_ThrowObjectDisposed()
    {
        EmbeddedKnowledgeStore store = await EmbeddedKnowledgeStore.OpenAsync(_root.NewFolder(), Space, Options());
        await store.DisposeAsync();
        await store.DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => store.GetStatsAsync());
        await Assert.ThrowsAsync<ObjectDisposedException>(() => store.SearchVectorsAsync(Queries(1, 1)[0], 3));
    }

    private static async Task<object?> ScalarAsync(SqliteConnection connection, string sql, SqliteTransaction? tx = null)
    {
        await using SqliteCommand command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = tx;
        return await command.ExecuteScalarAsync();
    }
}
