using Mmrag.Answering;
using Mmrag.Hosting.Wire;
using Mmrag.Knowledge;
using Mmrag.Retrieval.Search;

namespace Mmrag.Server.Api;

/// <summary>The API's JSON bodies: the wire format of <see cref="MmragJson"/>, the same documents <c>mmrag … --format json</c> prints.</summary>
internal static class ApiJson
{
    public static string Search(SearchResult result) => MmragJson.Serialize(MmragJson.ToResponse(result));

    public static string Answer(Answer answer) => MmragJson.Serialize(MmragJson.ToResponse(answer));

    public static string Item(KnowledgeItem item) => MmragJson.Serialize(MmragJson.ToResponse(item));
}
