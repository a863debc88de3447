namespace Mmrag.Storage.ContractTests;

/// <content>
/// The contract of <see cref="IAtomicSettings"/>: every store of this suite writes several settings in one transaction
/// and reads them in one snapshot.
/// </content>
public abstract partial class KnowledgeStoreContractTests
{
    [Fact]
    public async Task Settings_SetSettingsAsync_WritesAndDeletesTogether_ReadBackInTheKeysOrder()
    {
        IKnowledgeStore store = await NewStoreAsync();
        Assert.IsAssignableFrom<IAtomicSettings>(store);
        await store.SetSettingsAsync([new("a", "1"), new("b", "2")]);

        await store.SetSettingsAsync([new("a", null), new("c", "3"), new("b", "two")]);
        IReadOnlyList<string?> values = await store.GetSettingsAsync(["c", "missing", "b", "a"]);

        Assert.Equal(["3", null, "two", null], values);
        Assert.Equal("two", await store.GetSettingAsync("b"));
        await Assert.ThrowsAsync<ArgumentException>(() => store.SetSettingsAsync([new("a", "1"), new("a", "2")]));
        await Assert.ThrowsAsync<ArgumentException>(() => store.GetSettingsAsync(["a", ""]));
    }

    [Fact]
    public async Task Settings_ReaderRacingAWriterOfPairs_NeverSeesHalfOfAWrite()
    {
        IKnowledgeStore store = await NewStoreAsync();
        const int writes = 300;
        int done = 0;
        Task writer = Task.Run(async () =>
        {
            try
            {
                for (int i = 1; i <= writes; i++)
                {
                    // Every tenth write removes both, as removing a query adapter does.
                    string? value = i % 10 == 0 ? null : $"v{i}";
                    await store.SetSettingsAsync([new("pair-value", value), new("pair-stamp", value)]);
                }
            }
            finally
            {
                Volatile.Write(ref done, 1);
            }
        });

        var torn = new List<string>();
        while (Volatile.Read(ref done) == 0)
        {
            IReadOnlyList<string?> pair = await store.GetSettingsAsync(["pair-value", "pair-stamp"]);
            if (pair[0] != pair[1])
            {
                torn.Add($"{pair[0] ?? "null"} with {pair[1] ?? "null"}");
            }
        }

        await writer;
        Assert.Empty(torn);
        Assert.Equal([null, null], await store.GetSettingsAsync(["pair-value", "pair-stamp"]));
    }
}
