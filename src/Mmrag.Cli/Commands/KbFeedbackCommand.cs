using System.CommandLine;
using System.Globalization;
using Mmrag.Hosting;
using Mmrag.Hosting.Feedback;
using Mmrag.Hosting.Wire;

namespace Mmrag.Cli.Commands;

/// <summary><c>mmrag kb feedback [--format table|json]</c>, <c>mmrag kb feedback remove ID</c>, <c>mmrag kb feedback clear</c>.</summary>
internal static class KbFeedbackCommand
{
    public static Command Create()
    {
        var kb = new KnowledgeBaseOptions();
        var format = new Option<string>("--format") { Description = "table or json.", DefaultValueFactory = static _ => "table" };
        format.AcceptOnlyFromAmong("table", "json");
        var command = new Command("feedback",
            "List the relevance judgements stored with the knowledge base (thumbs from the page, the API, pairs files): id, when, source, query, item, verdict.");
        kb.AddStoreOptions(command);
        command.Options.Add(format);
        command.SetAction((parseResult, cancellationToken) => RunAsync(kb, parseResult, async (recorder, output) =>
        {
            var entries = await recorder.ListAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            if (parseResult.GetValue(format) == "json")
            {
                await output.WriteLineAsync(MmragJson.Serialize(new FeedbackListResponse([.. entries.Select(MmragJson.ToResponse)], entries.Count, 0))).ConfigureAwait(false);
                return 0;
            }

            await WriteTableAsync(output, entries).ConfigureAwait(false);
            return 0;
        }, cancellationToken));
        command.Subcommands.Add(Remove());
        command.Subcommands.Add(Clear());
        return command;
    }

    private static Command Remove()
    {
        var kb = new KnowledgeBaseOptions();
        var id = new Argument<string>("ID") { Description = "The judgement's id (see 'mmrag kb feedback')." };
        var command = new Command("remove", "Remove one relevance judgement.");
        kb.AddStoreOptions(command);
        command.Arguments.Add(id);
        command.SetAction((parseResult, cancellationToken) => RunAsync(kb, parseResult, async (recorder, output) =>
        {
            var judgement = parseResult.GetValue(id)!;
            if (!await recorder.RemoveAsync(judgement, cancellationToken).ConfigureAwait(false))
            {
                await parseResult.InvocationConfiguration.Error.WriteLineAsync($"error: no feedback '{judgement}' (see 'mmrag kb feedback').").ConfigureAwait(false);
                return CliErrors.Failure;
            }

            await output.WriteLineAsync($"removed feedback {judgement}").ConfigureAwait(false);
            return 0;
        }, cancellationToken));
        return command;
    }

    private static Command Clear()
    {
        var kb = new KnowledgeBaseOptions();
        var command = new Command("clear", "Remove every relevance judgement.");
        kb.AddStoreOptions(command);
        command.SetAction((parseResult, cancellationToken) => RunAsync(kb, parseResult, async (recorder, output) =>
        {
            var removed = await recorder.ClearAsync(cancellationToken).ConfigureAwait(false);
            await output.WriteLineAsync($"removed {removed} judgement(s)").ConfigureAwait(false);
            return 0;
        }, cancellationToken));
        return command;
    }

    /// <summary>Opens the knowledge base without its model (nothing is embedded) and runs <paramref name="action"/> on its feedback.</summary>
    private static Task<int> RunAsync(KnowledgeBaseOptions kb, ParseResult parseResult, Func<FeedbackRecorder, TextWriter, Task<int>> action,
        CancellationToken cancellationToken) =>
        CliErrors.RunAsync(parseResult.InvocationConfiguration.Error, async () =>
        {
            await using MmragKnowledgeBase session = await kb.OpenAsync(parseResult, create: false, withModel: false, cancellationToken).ConfigureAwait(false);
            var recorder = FeedbackRecorder.For(session);
            if (!recorder.IsSupported)
            {
                await parseResult.InvocationConfiguration.Error.WriteLineAsync($"error: the store of {session.Label} does not keep relevance feedback.").ConfigureAwait(false);
                return CliErrors.Failure;
            }

            return await action(recorder, parseResult.InvocationConfiguration.Output).ConfigureAwait(false);
        });

    private static async Task WriteTableAsync(TextWriter output, IReadOnlyList<FeedbackEntry> entries)
    {
        if (entries.Count == 0)
        {
            await output.WriteLineAsync("no feedback").ConfigureAwait(false);
            return;
        }

        await output.WriteLineAsync($"{"id",-32}  {"when",-20}  {"source",-6}  {"rel",-5}  query -> item (its source)").ConfigureAwait(false);
        foreach (var entry in entries)
        {
            var j = entry.Judgement;
            var query = j.Modality == Storage.FeedbackQueryModality.Image ? $"image {j.QueryImage}" : $"text \"{Shorten(j.QueryText ?? "", 60)}\"";
            var item = entry.ItemSource is { } source ? $"{j.ItemId} ({source})" : $"{j.ItemId} (item gone)";
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"{j.Id,-32}  {j.CreatedAt.UtcDateTime:yyyy-MM-dd HH:mm:ss}Z  {j.Source,-6}  {(j.Relevant ? "+1" : "-1"),-5}  {query}  -> {item}")).ConfigureAwait(false);
        }

        await output.WriteLineAsync($"{entries.Count} judgement(s); +1 relevant, -1 not relevant").ConfigureAwait(false);
    }

    private static string Shorten(string text, int length)
    {
        text = text.ReplaceLineEndings(" ");
        return text.Length <= length ? text : text[..(length - 3)] + "...";
    }
}
