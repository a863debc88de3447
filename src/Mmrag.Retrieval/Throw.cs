namespace Mmrag.Retrieval;

/// <summary>Argument checks for public entry points; messages name the setting at fault.</summary>
internal static class Throw
{
    public static void IfOutOfRange(bool condition, string name, object? value, string message)
    {
        if (condition)
        {
            throw new ArgumentOutOfRangeException(name, value, message);
        }
    }

    public static void IfNull(object? value, string name)
    {
        if (value is null)
        {
            throw new ArgumentNullException(name, $"{name} must not be null.");
        }
    }
}
