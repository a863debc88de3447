using System.CommandLine;
using Mmrag.Cli.Commands;

namespace Mmrag.Cli;

/// <summary>The <c>mmrag</c> command tree. Each command writes to the invocation's Output/Error writers, so tests can run it in-process.</summary>
public static class MmragCommandLine
{
    /// <summary>Builds the root command.</summary>
    public static RootCommand Create()
    {
        var root = new RootCommand("mmrag: a multimodal (image + text) retrieval-augmented generation knowledge base.");
        root.Subcommands.Add(TokenizeCommand.Create());
        root.Subcommands.Add(EmbedCommand.Create());
        root.Subcommands.Add(CompareCommand.Create());
        root.Subcommands.Add(ModelsCommand.Create());
        root.Subcommands.Add(IngestCommand.Create());
        root.Subcommands.Add(SearchCommand.Create());
        root.Subcommands.Add(AskCommand.Create());
        root.Subcommands.Add(KbCommand.Create());
        root.Subcommands.Add(ServeCommand.Create());
        root.Subcommands.Add(EvalCommand.Create());
        root.Subcommands.Add(TuneCommand.Create());
        return root;
    }
}
