using Mmrag.Ingestion.Web;

namespace Mmrag.Ingestion.Tests.Web;

public sealed class SrcSetTests
{
    private static readonly Uri Page = new("http://example.org/dir/page.html");

    private static List<string> Candidates(string? srcset, string? src = null) =>
        [.. SrcSet.Candidates(srcset, src, Page).Select(u => u.AbsoluteUri)];

    [Theory]
    [InlineData("a.jpg 1x,b.jpg 2x")]
    [InlineData("a.jpg 1x, b.jpg 2x")]
    [InlineData("a.jpg 1x ,b.jpg 2x")]
    [InlineData("  a.jpg   1x ,\n\tb.jpg\t2x  ")]
    [InlineData("a.jpg 1x,,b.jpg 2x,")]
    public void Candidates_DensityListWithOrWithoutSpacesAfterCommas_LargestFirst(string srcset)
    {
        Assert.Equal(["http://example.org/dir/b.jpg", "http://example.org/dir/a.jpg"], Candidates(srcset));
    }

    [Theory]
    [InlineData("a.jpg 100w,b.jpg 200w")]
    [InlineData("a.jpg 100w, b.jpg 200w")]
    [InlineData("b.jpg 200w,a.jpg 100w")]
    [InlineData("a.jpg 100w 50h,b.jpg 200w 100h")]
    public void Candidates_WidthListWithOrWithoutSpacesAfterCommas_WidestFirst(string srcset)
    {
        Assert.Equal(["http://example.org/dir/b.jpg", "http://example.org/dir/a.jpg"], Candidates(srcset));
    }

    [Fact]
    public void Candidates_TrailingCommaEndsUrl_CandidateWithoutDescriptorIsOneX()
    {
        Assert.Equal(["http://example.org/dir/b.jpg", "http://example.org/dir/a.jpg"], Candidates("a.jpg, b.jpg 2x"));
    }

    [Fact]
    public void Candidates_CommaInsideUrl_KeptInTheUrl()
    {
        // A URL runs until whitespace: commas inside it belong to it.
        Assert.Equal(["http://example.org/img/a,b.jpg", "http://example.org/img/c.jpg"],
            Candidates("/img/c.jpg 1x,/img/a,b.jpg 2x"));
        Assert.Equal(["http://example.org/dir/a.jpg,b.jpg"], Candidates("a.jpg,b.jpg 2x"));
    }

    [Fact]
    public void Candidates_InvalidDescriptors_CandidateDropped()
    {
        // A unit the standard does not know, a negative width, two densities, a height without a width.
        Assert.Equal(["http://example.org/dir/ok.jpg", "http://example.org/dir/src.jpg"],
            Candidates("bad1.jpg 2q,bad2.jpg -5w,bad3.jpg 1x 2x,bad4.jpg 40h,ok.jpg 2x", "src.jpg"));
    }

    [Fact]
    public void Candidates_ParenthesisedDescriptorWithComma_CommaDoesNotEndTheCandidate()
    {
        // A future descriptor in parentheses may hold a comma; the candidate is invalid (unknown descriptor), not split.
        Assert.Equal(["http://example.org/dir/b.jpg"], Candidates("a.jpg 1x (x,y.jpg 3x),b.jpg 2x"));
    }

    [Fact]
    public void Candidates_ManyWithoutSpaces_LimitedToMaxCandidatesKeepingTheSrc()
    {
        var srcset = string.Join(",", Enumerable.Range(1, 50).Select(i => $"i{i}.jpg {i}w"));

        var candidates = Candidates(srcset, "plain.jpg");

        Assert.Equal(SrcSet.MaxCandidates, candidates.Count);
        Assert.Equal("http://example.org/dir/i50.jpg", candidates[0]);
        Assert.Equal("http://example.org/dir/plain.jpg", candidates[^1]);
    }
}
