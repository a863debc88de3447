using SkiaSharp;

namespace Mmrag.Ingestion.Tests.Support;

/// <summary>One file of the recorded article: its name (as <c>prop=images</c> lists it), the image and its licence fields.</summary>
internal sealed record RecordedFile(
    string Name,
    string MediaType,
    int Width,
    int Height,
    SKColor Colour,
    string License,
    string? LicenseUrl,
    string ArtistHtml,
    string? CreditHtml,
    bool AttributionRequired,
    string DescriptionHtml);

/// <summary>
/// A small "Helsinki" article written by hand in the shape of MediaWiki's parser output (<c>action=parse</c>,
/// <c>prop=text</c>): an infobox with a photo and a flag icon, a lead, sections naming tourist attractions, three
/// thumbnails with captions, reference markers and a reference list. The images are drawn by the test; their
/// licences are written in <c>extmetadata</c>'s form (HTML values).
/// </summary>
internal static class HelsinkiRecording
{
    public const string Title = "Helsinki";
    public const string Redirect = "Helsingfors";
    public const long PageId = 13696;
    public const long RevisionId = 1_190_000_001;

    /// <summary>A sentence only the recorded article's tourism section holds.</summary>
    public const string TourismSentence = "Suomenlinna, a sea fortress built on six islands, is one of the most popular tourist attractions in Helsinki";

    public static readonly RecordedFile SenateSquare = new("Helsinki_Senate_Square_aerial.jpg", "image/jpeg", 320, 214, new SKColor(200, 40, 40),
        "CC BY-SA 4.0", "https://creativecommons.org/licenses/by-sa/4.0",
        """<a href="//commons.wikimedia.org/wiki/User:Example_Photographer" title="User:Example Photographer">Example Photographer</a>""",
        """<span class="int-own-work" lang="en">Own work</span>""", true,
        """<div class="description en" lang="en">Aerial view of <a href="https://en.wikipedia.org/wiki/Senate_Square,_Helsinki">Senate Square</a> and Helsinki Cathedral</div>""");

    public static readonly RecordedFile Suomenlinna = new("Suomenlinna_fortress.jpg", "image/jpeg", 300, 225, new SKColor(40, 80, 200),
        "CC BY 2.0", "https://creativecommons.org/licenses/by/2.0",
        "<bdi><a href=\"https://www.flickr.com/people/example\" class=\"external text\" rel=\"nofollow\">Kari &amp; Co</a>\n</bdi>",
        """<a href="https://www.flickr.com/photos/example/1" rel="nofollow">Suomenlinna from the sea</a>""", true,
        "The walls of the Suomenlinna sea fortress");

    public static readonly RecordedFile Temppeliaukio = new("Temppeliaukio_Church_interior.png", "image/png", 280, 280, new SKColor(220, 180, 60),
        "CC0", "https://creativecommons.org/publicdomain/zero/1.0/deed.en",
        """<span lang="fi">Tuntematon kuvaaja</span>""", null, false,
        "Inside the Temppeliaukio Church, quarried into the rock");

    public static readonly RecordedFile MarketSquare = new("Market_Square_Helsinki.png", "image/png", 300, 200, new SKColor(40, 160, 60),
        "CC BY-SA 3.0", "https://creativecommons.org/licenses/by-sa/3.0",
        "Market &lt;stall&gt; keeper", null, true,
        "Stalls on the Market Square by the South Harbour");

    /// <summary>Shown at 23 px in the infobox: not a picture worth taking.</summary>
    public const string FlagIcon = "Flag_of_Helsinki.svg";

    public static IReadOnlyList<RecordedFile> Photos { get; } = [SenateSquare, Suomenlinna, Temppeliaukio, MarketSquare];

    /// <summary>The files <c>prop=images</c> lists, in its (alphabetical) order.</summary>
    public static IReadOnlyList<string> ImageFiles { get; } =
        [FlagIcon, SenateSquare.Name, MarketSquare.Name, Suomenlinna.Name, Temppeliaukio.Name];

    /// <summary>The parser output of revision <paramref name="revision"/>: a later revision adds a paragraph about Oodi.</summary>
    public static string Html(long revision)
    {
        var later = revision == RevisionId ? "" :
            """
            <p>The Oodi central library, opened in 2018 opposite the Parliament House, drew more visitors than any other building in the city.</p>
            """;
        return $$"""
            <div class="mw-content-ltr mw-parser-output" lang="en" dir="ltr"><div class="shortdescription nomobile noexcerpt noprint searchaux" style="display:none">Capital and largest city of Finland</div>
            <style data-mw-deduplicate="TemplateStyles:r1">.mw-parser-output .infobox{border:1px solid #a2a9b1}</style>
            <table class="infobox ib-settlement vcard"><tbody>
            <tr><th colspan="2" class="infobox-above"><div class="fn org">Helsinki</div></th></tr>
            <tr><td colspan="2" class="infobox-image"><span class="mw-default-size" typeof="mw:File/Frameless"><a href="/wiki/File:Helsinki_Senate_Square_aerial.jpg" class="mw-file-description"><img src="//upload.wikimedia.org/wikipedia/commons/thumb/a/a1/Helsinki_Senate_Square_aerial.jpg/250px-Helsinki_Senate_Square_aerial.jpg" decoding="async" width="250" height="167" class="mw-file-element" srcset="//upload.wikimedia.org/wikipedia/commons/thumb/a/a1/Helsinki_Senate_Square_aerial.jpg/500px-Helsinki_Senate_Square_aerial.jpg 2x" /></a></span><div class="infobox-caption">Senate Square with Helsinki Cathedral</div></td></tr>
            <tr><td colspan="2"><span class="flagicon"><span typeof="mw:File"><a href="/wiki/File:Flag_of_Helsinki.svg" class="mw-file-description"><img alt="Flag of Helsinki" src="//upload.wikimedia.org/wikipedia/commons/thumb/f/f1/Flag_of_Helsinki.svg/23px-Flag_of_Helsinki.svg.png" decoding="async" width="23" height="15" class="mw-file-element" /></a></span></span> Flag</td></tr>
            <tr><th scope="row" class="infobox-label">Country</th><td class="infobox-data">Finland</td></tr>
            </tbody></table>
            <p><b>Helsinki</b> is the capital and most populous city of Finland, on the shore of the Gulf of Finland.<sup id="cite_ref-pop_1-0" class="reference"><a href="#cite_note-pop-1"><span class="cite-bracket">[</span>1<span class="cite-bracket">]</span></a></sup> It is the centre of the region of Uusimaa in southern Finland.</p>
            <meta property="mw:PageProp/toc" />
            <div class="mw-heading mw-heading2"><h2 id="Tourism">Tourism</h2></div>
            <p>{{TourismSentence}}; it is a UNESCO World Heritage Site reached by ferry from the Market Square.<sup id="cite_ref-unesco_2-0" class="reference"><a href="#cite_note-unesco-2"><span class="cite-bracket">[</span>2<span class="cite-bracket">]</span></a></sup></p>
            <figure class="mw-default-size" typeof="mw:File/Thumb"><a href="/wiki/File:Suomenlinna_fortress.jpg" class="mw-file-description"><img src="//upload.wikimedia.org/wikipedia/commons/thumb/5/5c/Suomenlinna_fortress.jpg/250px-Suomenlinna_fortress.jpg" decoding="async" width="250" height="188" class="mw-file-element" srcset="//upload.wikimedia.org/wikipedia/commons/thumb/5/5c/Suomenlinna_fortress.jpg/500px-Suomenlinna_fortress.jpg 2x" /></a><figcaption>The sea fortress of Suomenlinna</figcaption></figure>
            {{later}}
            <div class="mw-heading mw-heading3"><h3 id="Churches">Churches</h3></div>
            <p>Helsinki Cathedral, white with green domes, towers over the Senate Square. The Temppeliaukio Church was quarried directly into solid rock and is lit by a ring of skylights.</p>
            <figure class="mw-default-size" typeof="mw:File/Thumb"><a href="/wiki/File:Temppeliaukio_Church_interior.png" class="mw-file-description"><img src="//upload.wikimedia.org/wikipedia/commons/thumb/0/0e/Temppeliaukio_Church_interior.png/220px-Temppeliaukio_Church_interior.png" decoding="async" width="220" height="220" class="mw-file-element" /></a><figcaption>Inside the Temppeliaukio Church</figcaption></figure>
            <div class="mw-heading mw-heading3"><h3 id="Markets">Markets</h3></div>
            <p>The Market Square by the South Harbour sells fish, berries and handicrafts; the Old Market Hall beside it has been open since 1889.</p>
            <figure class="mw-default-size" typeof="mw:File/Thumb"><a href="/wiki/File:Market_Square_Helsinki.png" class="mw-file-description"><img src="//upload.wikimedia.org/wikipedia/commons/thumb/9/9d/Market_Square_Helsinki.png/250px-Market_Square_Helsinki.png" decoding="async" width="250" height="167" class="mw-file-element" /></a><figcaption>Market Square in summer</figcaption></figure>
            <div class="mw-heading mw-heading2"><h2 id="References">References</h2></div>
            <div class="mw-references-wrap"><ol class="references">
            <li id="cite_note-pop-1"><span class="mw-cite-backlink"><b><a href="#cite_ref-pop_1-0">^</a></b></span> <span class="reference-text">Population statistics.</span></li>
            <li id="cite_note-unesco-2"><span class="mw-cite-backlink"><b><a href="#cite_ref-unesco_2-0">^</a></b></span> <span class="reference-text">World Heritage List.</span></li>
            </ol></div></div>
            """;
    }

    /// <summary>The file drawn as a small image of its colour, in its media type, at the rendition width asked for (at most its own).</summary>
    public static byte[] Render(RecordedFile file, int width)
    {
        width = Math.Clamp(width, 8, file.Width);
        var height = Math.Max(8, file.Height * width / file.Width);
        using var bitmap = new SKBitmap(width, height);
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(file.Colour);
            using var paint = new SKPaint { Color = SKColors.White, IsAntialias = false };
            // A shape per file, so the pictures differ in more than their colour.
            canvas.DrawRect(width / 4f, height / 4f, width / (2f + file.Name.Length % 3), height / 3f, paint);
        }

        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(file.MediaType == "image/png" ? SKEncodedImageFormat.Png : SKEncodedImageFormat.Jpeg, 85);
        return data.ToArray();
    }
}
