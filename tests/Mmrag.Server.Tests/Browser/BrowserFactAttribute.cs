namespace Mmrag.Server.Tests.Browser;

/// <summary>
/// A browser test: skipped with a message when Debian's Chromium (<c>/usr/bin/chromium</c>) is missing on a developer
/// machine, but run (and failing) when <c>CI=true</c>, so CI cannot pass without it.
/// </summary>
public sealed class BrowserFactAttribute : FactAttribute
{
    public const string ChromiumPath = "/usr/bin/chromium";

    public BrowserFactAttribute()
    {
        if (!File.Exists(ChromiumPath) && !string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Skip = $"{ChromiumPath} not found: install it with 'apt-get install -y chromium' (in CI this test fails instead).";
        }
    }
}
