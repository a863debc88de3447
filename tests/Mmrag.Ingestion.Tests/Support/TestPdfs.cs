using System.Text;
using UglyToad.PdfPig.Content;
using UglyToad.PdfPig.Core;
using UglyToad.PdfPig.Fonts.Standard14Fonts;
using UglyToad.PdfPig.Writer;

namespace Mmrag.Ingestion.Tests.Support;

/// <summary>PDFs made for the tests with PdfPig's writer.</summary>
internal static class TestPdfs
{
    /// <summary>
    /// Two pages: page 1 has a heading, a paragraph, and the fixture JPEG with a caption under it; page 2 has text and
    /// the fixture PNG.
    /// </summary>
    public static byte[] TwoPagesWithJpegAndPng()
    {
        using var builder = new PdfDocumentBuilder();
        builder.DocumentInformation.Title = "Field notes";
        var font = builder.AddStandard14Font(Standard14Font.Helvetica);

        var first = builder.AddPage(PageSize.A4);
        first.AddText("Chapter One: Foxes", 18, new PdfPoint(50, 790), font);
        first.AddText("The red fox hunts small rodents at dusk near the forest edge.", 11, new PdfPoint(50, 760), font);
        first.AddJpeg(Fixtures.Jpeg, new PdfRectangle(50, 420, 370, 660));
        first.AddText("Figure 1: a fox photographed in winter.", 10, new PdfPoint(50, 400), font);
        first.AddText("Unrelated footer text far below the picture.", 8, new PdfPoint(50, 60), font);

        var second = builder.AddPage(PageSize.A4);
        second.AddText("Chapter Two: Otters", 18, new PdfPoint(50, 790), font);
        second.AddText("Otters float on their backs and crack shells on their chests.", 11, new PdfPoint(50, 760), font);
        second.AddPng(Fixtures.OtherPng, new PdfRectangle(50, 500, 275, 724));
        return builder.Build();
    }

    /// <summary><paramref name="pages"/> pages with nothing on them.</summary>
    public static byte[] BlankPages(int pages)
    {
        using var builder = new PdfDocumentBuilder();
        for (var i = 0; i < pages; i++)
        {
            builder.AddPage(PageSize.A4);
        }

        return builder.Build();
    }

    /// <summary>One page of text only.</summary>
    public static byte[] TextOnly(string text)
    {
        using var builder = new PdfDocumentBuilder();
        var font = builder.AddStandard14Font(Standard14Font.Helvetica);
        var page = builder.AddPage(PageSize.A4);
        page.AddText(text, 12, new PdfPoint(50, 700), font);
        return builder.Build();
    }

    /// <summary>
    /// A PDF whose trailer declares standard (RC4) encryption with a user password: the keys are made up, so no
    /// reader can open it without the password.
    /// </summary>
    public static byte[] PasswordProtected()
    {
        var pdf = Encoding.Latin1.GetString(TextOnly("secret"));
        var trailer = pdf.LastIndexOf("trailer", StringComparison.Ordinal);
        var open = pdf.IndexOf("<<", trailer, StringComparison.Ordinal);
        var encrypt = "/Encrypt << /Filter /Standard /V 1 /R 2 /Length 40 /P -3904 "
            + "/O <" + new string('A', 64) + "> /U <" + new string('B', 64) + "> >> "
            + "/ID [<0123456789ABCDEF0123456789ABCDEF> <0123456789ABCDEF0123456789ABCDEF>] ";
        return Encoding.Latin1.GetBytes(pdf.Insert(open + 2, " " + encrypt));
    }

    /// <summary>
    /// One page with text, a PNG-made image whose filter is then relabelled JPXDecode (JPEG 2000, which PdfPig cannot
    /// convert; the edit keeps every byte offset), and the fixture JPEG.
    /// </summary>
    public static byte[] WithUnconvertibleImage()
    {
        using var builder = new PdfDocumentBuilder();
        var font = builder.AddStandard14Font(Standard14Font.Helvetica);
        var page = builder.AddPage(PageSize.A4);
        page.AddText("Scanned appendix", 14, new PdfPoint(50, 790), font);
        page.AddPng(Fixtures.OtherPng, new PdfRectangle(50, 500, 275, 724));
        page.AddJpeg(Fixtures.Jpeg, new PdfRectangle(50, 100, 370, 340));
        var pdf = Encoding.Latin1.GetString(builder.Build());
        var image = pdf.IndexOf("/Subtype /Image", StringComparison.Ordinal);
        var filter = pdf.IndexOf("/FlateDecode", image, StringComparison.Ordinal);
        return Encoding.Latin1.GetBytes(pdf[..filter] + "/JPXDecode  " + pdf[(filter + "/FlateDecode".Length)..]);
    }
}
