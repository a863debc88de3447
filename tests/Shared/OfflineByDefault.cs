using System.Runtime.CompilerServices;

namespace Mmrag.Testing;

/// <summary>
/// Tests never reach the internet: unless a test run says otherwise, model downloads are forbidden (MMRAG_OFFLINE=1,
/// inherited by the mmrag processes tests start). Downloader tests point at loopback servers with Offline = false.
/// </summary>
internal static class OfflineByDefault
{
    [ModuleInitializer]
    internal static void Apply()
    {
        if (Environment.GetEnvironmentVariable("MMRAG_OFFLINE") is null)
        {
            Environment.SetEnvironmentVariable("MMRAG_OFFLINE", "1");
        }
    }
}
