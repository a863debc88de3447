using Mmrag.Answering.Llm;

namespace Mmrag.Answering.Tests.Llm;

public sealed class LlmOptionsTests
{
    [Fact]
    public void FromEnvironment_VariablesSet_ReadsAll()
    {
        var env = new Dictionary<string, string>
        {
            ["MMRAG_LLM_BASE_URL"] = " http://localhost:11434/v1 ",
            ["MMRAG_LLM_MODEL"] = "llama3.2-vision",
            ["MMRAG_LLM_API_KEY"] = "k",
            ["MMRAG_LLM_CAPTION_MODEL"] = "moondream",
        };

        var options = LlmOptions.FromEnvironment(env.GetValueOrDefault);

        Assert.Equal("http://localhost:11434/v1", options.BaseUrl);
        Assert.Equal("llama3.2-vision", options.Model);
        Assert.Equal("k", options.ApiKey);
        Assert.Equal("moondream", options.EffectiveCaptionModel);
        Assert.True(options.IsConfigured);
        options.Validate();
    }

    [Fact]
    public void FromEnvironment_NothingSet_IsNotConfiguredAndCaptionModelFallsBack()
    {
        var options = LlmOptions.FromEnvironment(_ => null);

        Assert.False(options.IsConfigured);
        options.Model = "m";
        Assert.Equal("m", options.EffectiveCaptionModel);
    }

    [Theory]
    [InlineData(null, "m", "MMRAG_LLM_BASE_URL")]
    [InlineData("localhost:11434", "m", "MMRAG_LLM_BASE_URL")]
    [InlineData("ftp://x/v1", "m", "MMRAG_LLM_BASE_URL")]
    [InlineData("http://x/v1", null, "MMRAG_LLM_MODEL")]
    public void Validate_MissingOrBadSetting_NamesIt(string? baseUrl, string? model, string expected)
    {
        var options = new LlmOptions { BaseUrl = baseUrl, Model = model };

        var ex = Assert.Throws<ArgumentException>(options.Validate);

        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Create_InvalidOptions_ThrowsBeforeAnyRequest()
    {
        Assert.Throws<ArgumentException>(() => OpenAiCompatibleChatClientFactory.Create(new LlmOptions { BaseUrl = "http://x/v1", Model = "m", MaxRetries = -1 }));
    }
}
