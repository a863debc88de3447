namespace Mmrag.Cli.Tests;

/// <summary>
/// The test classes that point <c>MMRAG_LLM_*</c> (process-wide environment variables) at their own loopback LLM: they
/// run one after another, so none sees another's server.
/// </summary>
[CollectionDefinition(Name)]
public sealed class LlmEnvironmentCollection
{
    public const string Name = "llm-environment";
}
