using System.CommandLine;
using Mmrag.Answering.Captioning;
using Mmrag.Answering.Llm;
using Mmrag.Hosting;
using Mmrag.Ingestion.Web.Wikipedia;
using Microsoft.Extensions.DependencyInjection;

namespace Mmrag.Cli.Commands;

/// <summary>
/// <c>mmrag ingest PATH… [--wikipedia TITLE…]</c>: adds folders, files and Wikipedia articles to the knowledge base,
/// incrementally, with a progress display and a summary.
/// </summary>
internal static class IngestCommand
{
    public static Command Create()
    {
        var kb = new KnowledgeBaseOptions();
        var paths = new Argument<string[]>("path")
        {
            Arity = ArgumentArity.ZeroOrMore,
            Description = "Folders (walked recursively), files and http(s) URLs of web pages to ingest; wikipedia:Title (or wikipedia:LANG:Title) for a Wikipedia article.",
        };
        var descriptions = new Option<string?>("--descriptions") { Description = "Image descriptions file (description.json JSON Lines, JSON array, or CSV with image_path,description)." };
        var prune = new Option<bool>("--prune") { Description = "Remove documents whose files under the given folders are gone." };
        var tags = new Option<string[]>("--tag") { Description = "Tag every ingested item (repeatable)." };
        var caption = new Option<bool>("--caption")
        {
            Description = "Caption every image without a description with the vision LLM (MMRAG_LLM_* / MMRAG_LLM_CAPTION_MODEL), for the text strategies.",
        };
        var ocr = new Option<bool>("--ocr")
        {
            Description = "Read the text printed in images and scanned PDF pages with Tesseract (apt-get install tesseract-ocr tesseract-ocr-eng).",
        };
        var ocrLanguages = new Option<string?>("--ocr-lang") { Description = "Tesseract languages for --ocr, joined with '+' (default eng; e.g. eng+deu). Implies --ocr." };
        var follow = new Option<string[]>("--follow") { Description = "Also download what web pages link to: pdf (the PDFs, read with their URL as source)." };
        follow.AcceptOnlyFromAmong([.. WebIngestionRequest.FollowKinds]);
        var depth = new Option<int>("--depth") { Description = "Crawl this many links away from the URLs given (default 0: the pages alone)." }.AtLeast(0);
        var maxPages = new Option<int?>("--max-pages") { Description = "Most web pages read (default 100)." };
        var sameSite = new Option<bool>("--same-site") { Description = "Crawl only links to the host of the page the crawl started from." };
        var allowPrivate = new Option<bool>("--allow-private-hosts")
        {
            Description = "Fetch URLs whose hosts resolve to loopback, private or link-local addresses (refused by default: a page must not reach into your network).",
        };
        var wikipedia = new Option<string[]>("--wikipedia")
        {
            Description = "Ingest the Wikipedia article with this title, with its photos and their licences (repeat for several).",
        };
        var language = new Option<string?>("--lang") { Description = "Wikipedia language edition for --wikipedia and wikipedia:Title (default en; e.g. fi, sv)." };
        var wikipediaApi = new Option<string?>("--wikipedia-api")
        {
            Description = "The MediaWiki API to read articles from instead of https://LANG.wikipedia.org/w/api.php.",
        };
        var command = new Command("ingest", "Ingest images (with descriptions), text, Markdown, HTML and PDF files, web pages by URL and Wikipedia articles into the knowledge base.");
        command.Arguments.Add(paths);
        kb.AddTo(command);
        command.Options.Add(descriptions);
        command.Options.Add(prune);
        command.Options.Add(tags);
        command.Options.Add(caption);
        command.Options.Add(ocr);
        command.Options.Add(ocrLanguages);
        foreach (var option in new Option[] { follow, depth, maxPages, sameSite, allowPrivate, wikipedia, language, wikipediaApi })
        {
            command.Options.Add(option);
        }

        command.SetAction((parseResult, cancellationToken) => CliErrors.RunAsync(parseResult.InvocationConfiguration.Error, async () =>
        {
            var output = parseResult.InvocationConfiguration.Output;
            if (parseResult.GetValue(caption) && !LlmOptions.FromEnvironment(CliEnvironment.Get).IsConfigured)
            {
                await parseResult.InvocationConfiguration.Error.WriteLineAsync($"error: --caption needs a vision LLM. {LlmOptions.ConfigurationHint}");
                return CliErrors.Failure;
            }

            var api = parseResult.GetValue(wikipediaApi);
            var request = new IngestionRequest
            {
                Web = new WebIngestionRequest
                {
                    Depth = parseResult.GetValue(depth),
                    MaxPages = parseResult.GetValue(maxPages),
                    SameSite = parseResult.GetValue(sameSite),
                    Follow = parseResult.GetValue(follow) ?? [],
                    AllowPrivateHosts = parseResult.GetValue(allowPrivate),
                },
                OcrLanguages = IngestionRequest.OcrLanguagesFor(parseResult.GetValue(ocr), parseResult.GetValue(ocrLanguages)),
                WikipediaLanguage = parseResult.GetValue(language),
                WikipediaApi = api is null ? null : IngestionRequest.ParseWikipediaApi(api, "--wikipedia-api"),
            };
            // Checked before the knowledge base and its model are opened; again against its wiki once it is.
            request.Validate();
            var titles = parseResult.GetValue(wikipedia) ?? [];
            string[] inputs = [.. parseResult.GetValue(paths) ?? [], .. titles.Select(static t => WikipediaSourceResolver.PathOf(t))];
            if (inputs.Length == 0)
            {
                await parseResult.InvocationConfiguration.Error.WriteLineAsync("error: give a folder, a file, a URL or --wikipedia TITLE to ingest.");
                return CliErrors.Failure;
            }

            await using var session = await kb.OpenAsync(parseResult, create: true, withModel: true, cancellationToken).ConfigureAwait(false);
            var pipeline = session.CreatePipeline();
            var options = session.CreateIngestionOptions(request, options => options with
            {
                Prune = parseResult.GetValue(prune),
                DescriptionsFile = parseResult.GetValue(descriptions),
                Tags = parseResult.GetValue(tags) ?? [],
            });

            var summary = await IngestionDisplay.RunAsync(parseResult.InvocationConfiguration.Error,
                progress => pipeline.IngestAsync(inputs, options, progress, cancellationToken)).ConfigureAwait(false);

            // Only a shared knowledge base (PostgreSQL) has other ingesters; the count is noise everywhere else.
            var elsewhere = summary.ClaimedElsewhere > 0 ? $", {summary.ClaimedElsewhere} left to other ingesters" : "";
            var notes = string.Concat(
                summary.Empty > 0 ? $", {summary.Empty} empty" : "",
                summary.Warnings.Count > 0 ? $", {summary.Warnings.Count} warning(s)" : "",
                summary.Hidden.Count > 0 ? $", {summary.Hidden.Count} hidden not read" : "");
            await output.WriteLineAsync(
                $"knowledge base {session.Label} ({session.Store.Space.ModelId}): {summary.Files} files: {summary.Added} added, {summary.Unchanged} unchanged, {summary.Replaced} replaced{elsewhere}, {summary.Pruned} pruned, {summary.Failed} failed{notes}; {summary.Items} items ({summary.Embedded} embedded) in {summary.Elapsed.TotalSeconds:F1} s").ConfigureAwait(false);
            var warnings = summary.Warnings.ToHashSet();
            foreach (var failure in summary.Failures)
            {
                await output.WriteLineAsync(
                    $"  {(warnings.Contains(failure) ? "warning" : "failed")}: {failure.SourcePath}{(failure.Detail is null ? "" : $" ({failure.Detail})")}: {failure.Reason}").ConfigureAwait(false);
            }

            foreach (var hidden in summary.Hidden.Take(20))
            {
                await output.WriteLineAsync($"  hidden, not read: {hidden}").ConfigureAwait(false);
            }

            foreach (var skipped in summary.Skipped.Take(20))
            {
                await output.WriteLineAsync($"  skipped: {skipped}").ConfigureAwait(false);
            }

            var captionFailures = 0;
            if (parseResult.GetValue(caption))
            {
                var captioner = session.Services.GetRequiredService<ImageCaptioner>();
                var captions = await captioner.CaptionStoreAsync(session.Store, session.TextEmbedder, cancellationToken: cancellationToken);
                captionFailures = captions.Failures.Count;
                await output.WriteLineAsync($"captioned {captions.Captioned} images in {captions.Documents} documents ({captionFailures} failed)");
                foreach (var failure in captions.Failures)
                {
                    await output.WriteLineAsync($"  caption failed: {failure.Item.ImagePath ?? failure.Item.Provenance.SourcePath}: {failure.Error}");
                }
            }

            return summary.Failed + captionFailures > 0 ? 3 : 0;
        }));
        return command;
    }
}
