using System.CommandLine;
using System.Globalization;
using System.Numerics;

namespace Mmrag.Cli.Commands;

/// <summary>
/// Range checks on numeric options at parse time: a value out of range is a usage error naming the option, instead of
/// an exception from deep inside the command.
/// </summary>
internal static class OptionRanges
{
    public static Option<T> AtLeast<T>(this Option<T> option, T minimum)
        where T : struct, INumber<T>
    {
        option.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<T>() is var value && value < minimum)
            {
                result.AddError(string.Create(CultureInfo.InvariantCulture, $"{option.Name} must be at least {minimum}, not {value}."));
            }
        });
        return option;
    }

    /// <summary>A value in [<paramref name="low"/>, <paramref name="high"/>], or in (low, high] when <paramref name="lowExcluded"/>.</summary>
    public static Option<double?> Between(this Option<double?> option, double low, double high, bool lowExcluded = false)
    {
        option.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<double?>() is { } value && !(lowExcluded ? value > low : value >= low) | !(value <= high))
            {
                var range = string.Create(CultureInfo.InvariantCulture, $"{(lowExcluded ? "(" : "[")}{low}, {high}]");
                result.AddError(string.Create(CultureInfo.InvariantCulture, $"{option.Name} must be in {range}, not {value}."));
            }
        });
        return option;
    }
}
