using System.CommandLine;
using Mmrag.Cli;

var configuration = new InvocationConfiguration { EnableDefaultExceptionHandler = false };
try
{
    return await MmragCommandLine.Create().Parse(args).InvokeAsync(configuration).ConfigureAwait(false);
}
catch (OperationCanceledException)
{
    await Console.Error.WriteLineAsync("cancelled").ConfigureAwait(false);
    return 130;
}
