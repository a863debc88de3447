using System.CommandLine;

namespace Mmrag.Cli.Tests;

/// <summary>Runs the real <c>mmrag</c> command tree in-process with captured output.</summary>
internal static class CliRunner
{
    public static async Task<(int ExitCode, string Output, string Error)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exitCode = await MmragCommandLine.Create().Parse(args)
            .InvokeAsync(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false });
        return (exitCode, output.ToString(), error.ToString());
    }
}
