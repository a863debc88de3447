using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using HtmlAgilityPack;

namespace Mmrag.Ingestion.Web.Wikipedia;

/// <summary>
/// The licence and credit of an image from a wiki, read from the <c>extmetadata</c> of MediaWiki's
/// <c>prop=imageinfo</c> (Wikimedia Commons' file description page): what a reuser must show beside the picture.
/// The HTML of <c>Artist</c>, <c>Credit</c> and <c>ImageDescription</c> is reduced to plain text.
/// </summary>
/// <param name="License">Short licence name (<c>LicenseShortName</c>, e.g. "CC BY-SA 4.0", "Public domain"), when given.</param>
/// <param name="LicenseUrl">The licence's URL (<c>LicenseUrl</c>), when given.</param>
/// <param name="Artist">Author (<c>Artist</c>), as plain text, when given.</param>
/// <param name="Credit">Source or credit line (<c>Credit</c>), as plain text, when given.</param>
/// <param name="AttributionRequired">Whether the licence requires attribution (<c>AttributionRequired</c>); true when unknown.</param>
/// <param name="Description">The file's description (<c>ImageDescription</c>), as plain text, when given.</param>
/// <param name="FilePage">The file's description page (<c>descriptionurl</c>), where the full terms are, when known.</param>
public sealed partial record ImageAttribution(
    string? License,
    string? LicenseUrl,
    string? Artist,
    string? Credit,
    bool AttributionRequired,
    string? Description,
    string? FilePage)
{
    // Longest plain-text field kept: some Commons descriptions run to pages, and this text travels with every hit.
    private const int MaxFieldLength = 500;

    /// <summary>
    /// The line shown with the image (hits, citations): author, licence with its URL, and the file page, e.g.
    /// "Jane Doe, CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0), via https://commons.wikimedia.org/wiki/File:X.jpg".
    /// </summary>
    public string Text
    {
        get
        {
            var parts = new List<string>(3);
            if (Artist is not null)
            {
                parts.Add(Artist);
            }
            else if (Credit is not null)
            {
                parts.Add(Credit);
            }

            if (License is not null)
            {
                parts.Add(LicenseUrl is null ? License : $"{License} ({LicenseUrl})");
            }

            var text = parts.Count == 0 ? "licence unknown" : string.Join(", ", parts);
            return FilePage is null ? text : $"{text}, via {FilePage}";
        }
    }

    /// <summary>
    /// Reads the attribution from one <c>imageinfo</c> entry's <c>extmetadata</c> object (each field an object with a
    /// <c>value</c>), and its <c>descriptionurl</c>. Missing fields are null.
    /// </summary>
    public static ImageAttribution FromImageInfo(JsonElement imageInfo)
    {
        var metadata = imageInfo.ValueKind == JsonValueKind.Object && imageInfo.TryGetProperty("extmetadata", out var m) && m.ValueKind == JsonValueKind.Object
            ? m
            : default;
        string? Field(string name) =>
            metadata.ValueKind == JsonValueKind.Object && metadata.TryGetProperty(name, out var field) && field.ValueKind == JsonValueKind.Object
            && field.TryGetProperty("value", out var value)
                ? value.ValueKind switch
                {
                    JsonValueKind.String => value.GetString(),
                    JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => value.GetRawText(),
                    _ => null,
                }
                : null;

        var required = Field("AttributionRequired");
        return new ImageAttribution(
            License: PlainText(Field("LicenseShortName")),
            LicenseUrl: WebUrl(Field("LicenseUrl")),
            Artist: PlainText(Field("Artist")),
            Credit: PlainText(Field("Credit")),
            AttributionRequired: !string.Equals(required?.Trim(), "false", StringComparison.OrdinalIgnoreCase),
            Description: PlainText(Field("ImageDescription")),
            FilePage: imageInfo.ValueKind == JsonValueKind.Object && imageInfo.TryGetProperty("descriptionurl", out var page) && page.ValueKind == JsonValueKind.String
                ? WebUrl(page.GetString())
                : null);
    }

    /// <summary>
    /// The text of an <c>extmetadata</c> HTML fragment: tags dropped, entities decoded, whitespace collapsed, cut at
    /// 500 characters; null when nothing is left.
    /// </summary>
    public static string? PlainText(string? html)
    {
        if (string.IsNullOrWhiteSpace(html))
        {
            return null;
        }

        var document = new HtmlDocument();
        document.LoadHtml(html);
        var text = new StringBuilder();
        foreach (var node in document.DocumentNode.DescendantsAndSelf())
        {
            if (node.NodeType == HtmlNodeType.Text && node.ParentNode?.Name is not ("script" or "style"))
            {
                text.Append(WebUtility.HtmlDecode(node.InnerText)).Append(' ');
            }
            else if (node.Name is "br" or "p" or "li")
            {
                text.Append(' ');
            }
        }

        var plain = Whitespace().Replace(text.ToString(), " ").Trim();
        plain = SpaceBeforePunctuation().Replace(plain, "$1");
        return plain.Length == 0 ? null : plain.Length <= MaxFieldLength ? plain : plain[..MaxFieldLength].TrimEnd() + "…";
    }

    private static string? WebUrl(string? url) => MediaWikiApi.WebUri(PlainText(url))?.AbsoluteUri;

    [GeneratedRegex(@"\s+", RegexOptions.CultureInvariant)]
    private static partial Regex Whitespace();

    [GeneratedRegex(@" ([,.;:)])", RegexOptions.CultureInvariant)]
    private static partial Regex SpaceBeforePunctuation();
}
