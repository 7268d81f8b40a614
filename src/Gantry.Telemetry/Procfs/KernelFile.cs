namespace Gantry.Telemetry.Procfs;

/// <summary>
/// Reads the small text files procfs and sysfs expose. A file that is missing, or that the
/// kernel refuses to read (a hwmon sensor that is switched off answers <c>EIO</c> or
/// <c>ENODATA</c>), reads as null so that only that part of a sample is left out.
/// <see cref="UnauthorizedAccessException"/> is not caught: callers decide what a denied
/// read means (the RAPL reader turns it into a note for the operator).
/// </summary>
internal static class KernelFile
{
    /// <summary>Reads a whole file, or null when it is not there or cannot be read.</summary>
    public static string? TryReadText(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        catch (DirectoryNotFoundException)
        {
            return null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>Reads a one-line file (sysfs attributes) without its trailing newline.</summary>
    public static string? TryReadLine(Func<string, string?> reader, string path)
    {
        var text = reader(path);
        if (text is null)
        {
            return null;
        }

        var trimmed = text.AsSpan().Trim();
        return trimmed.Length == text.Length ? text : trimmed.ToString();
    }

    /// <summary>Reads a sysfs attribute holding one unsigned integer.</summary>
    public static ulong? TryReadUInt64(Func<string, string?> reader, string path)
    {
        var text = reader(path);
        return text is not null && SpanParse.TryUInt64(text.AsSpan().Trim(), out var value) ? value : null;
    }

    /// <summary>Reads a sysfs attribute holding one signed integer (temperatures may be negative).</summary>
    public static long? TryReadInt64(Func<string, string?> reader, string path)
    {
        var text = reader(path);
        return text is not null && SpanParse.TryInt64(text.AsSpan().Trim(), out var value) ? value : null;
    }
}
