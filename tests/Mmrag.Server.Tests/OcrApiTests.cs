using System.Net.Http.Headers;
using System.Text;
using Mmrag.Ingestion.Tests.Support;

namespace Mmrag.Server.Tests;

[Collection("server")]
public sealed class OcrApiTests(ServerFixture fixture) : ApiTestBase(fixture)
{
    [OcrFact]
    public async Task Ingest_UploadWithOcr_SearchFindsTheImageByItsPrintedWord()
    {
        var name = Marker("sign") + ".png";
        using var form = Upload(name, TextRenderings.Png(["Zanzibar ferry timetable"], TextRenderings.Serif, 30));
        form.Add(new StringContent("true"), "ocr");

        using var response = await PostFormAsync("api/ingest", form);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        var job = await WaitForJobAsync((await ReadJsonAsync(response)).GetProperty("job_id").GetString()!);

        Assert.Equal("succeeded", job.GetProperty("state").GetString());
        // The tiny test model's vectors carry no meaning, so the fused order is not asserted: the keyword index found it by its printed words, and the hit shows them.
        var hits = (await SearchAsync(new { text = "zanzibar ferry", target = "images", threshold = 0 })).GetProperty("hits");
        var hit = hits.EnumerateArray().Single(h => h.GetProperty("source").GetString()!.EndsWith(name, StringComparison.Ordinal));
        Assert.Equal("both", hit.GetProperty("matched_by").GetString());
        Assert.Contains("Zanzibar ferry", hit.GetProperty("description").GetString(), StringComparison.Ordinal);
    }

    [OcrFact]
    public async Task Ingest_OcrLanguageNotInstalled_Returns503NamingThePackage()
    {
        using var form = Upload(Marker("sign") + ".png", TextRenderings.Png(["missing"], TextRenderings.Sans, 24));
        form.Add(new StringContent("qqq"), "ocr_lang");
        var before = UploadFolders();

        using var response = await PostFormAsync("api/ingest", form);

        var problem = await AssertProblemAsync(response, 503);
        Assert.Contains("tesseract-ocr-qqq", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(before, UploadFolders());
    }

    [Fact]
    public async Task Ingest_OcrLanguageNotALanguageName_Returns400()
    {
        using var form = Upload("note.txt", Encoding.UTF8.GetBytes("a note"));
        form.Add(new StringContent("eng;rm"), "ocr_lang");
        using var upload = await PostFormAsync("api/ingest", form);
        var problem = await AssertProblemAsync(upload, 400);
        Assert.Contains("ocr_lang", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    private static MultipartFormDataContent Upload(string name, byte[] bytes)
    {
        var file = new ByteArrayContent(bytes);
        file.Headers.ContentType = new MediaTypeHeaderValue(name.EndsWith(".png", StringComparison.Ordinal) ? "image/png" : "text/plain");
        return new MultipartFormDataContent { { file, "files", name } };
    }
}
