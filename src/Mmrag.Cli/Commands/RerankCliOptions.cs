using System.CommandLine;
using System.Globalization;
using Mmrag.Answering.Reranking;
using Mmrag.Hosting.Wire;

namespace Mmrag.Cli.Commands;

/// <summary><c>--rerank llm[:N]</c> and <c>--rerank-timeout SECONDS</c>, shared by search, ask and eval, read by <see cref="QueryVocabulary.TryParseRerank"/>.</summary>
internal sealed class RerankCliOptions
{
    public Option<RerankOptions?> Rerank { get; } = new("--rerank")
    {
        Description = $"Rerank the top N results with the configured (vision) LLM, which grades each 0-3 with a reason: {QueryVocabulary.RerankSyntax}. On any LLM failure the search order stands.",
        CustomParser = static result =>
        {
            var word = result.Tokens.Count == 0 ? null : result.Tokens[0].Value;
            if (QueryVocabulary.TryParseRerank(word, out var rerank))
            {
                return rerank;
            }

            result.AddError($"--rerank must be {QueryVocabulary.RerankSyntax}; got '{word}'.");
            return null;
        },
    };

    public Option<double> Timeout { get; } = new Option<double>("--rerank-timeout")
    {
        Description = "Seconds the rerank request may take before the search order stands.",
        DefaultValueFactory = static _ => RerankOptions.Default.Timeout.TotalSeconds,
    };

    public void AddTo(Command command)
    {
        command.Options.Add(Rerank);
        command.Options.Add(Timeout);
        command.Validators.Add(result =>
        {
            if (result.GetResult(Timeout) is not null && !(result.GetValue(Timeout) is > 0 and <= 3600))
            {
                result.AddError(string.Create(CultureInfo.InvariantCulture, $"--rerank-timeout must be more than 0 and at most 3600 seconds; got {result.GetValue(Timeout)}."));
            }
        });
    }

    /// <summary>The rerank asked for, or null for none.</summary>
    public RerankOptions? Get(ParseResult parseResult) =>
        parseResult.GetValue(Rerank) is { } rerank ? rerank with { Timeout = TimeSpan.FromSeconds(parseResult.GetValue(Timeout)) } : null;
}
