using System.Globalization;

namespace Gantry.Telemetry.Health;

/// <summary>
/// One spelling for a PCI address, so that the kernel log's bus ids can be matched against
/// NVML's. NVML writes <c>00000000:3B:00.0</c> (<c>NVML_DEVICE_PCI_BUS_ID_FMT</c>,
/// <c>%08X:%02X:%02X.0</c>); the driver's kernel messages write <c>0000:3b:00</c> (lower case,
/// a 4-digit domain, no function); sysfs and <c>lspci -D</c> write <c>0000:3b:00.0</c>.
/// </summary>
internal static class PciBusId
{
    /// <summary>
    /// The address in NVML's form (<c>00000000:3B:00.0</c>), from any of
    /// <c>domain:bus:device[.function]</c> or <c>bus:device.function</c> (domain 0), in either
    /// case, with or without a <c>PCI:</c> prefix; null when the text is not a PCI address.
    /// </summary>
    public static string? Normalize(ReadOnlySpan<char> text)
    {
        text = text.Trim();
        if (text.StartsWith("PCI:", StringComparison.OrdinalIgnoreCase))
        {
            text = text[4..];
        }

        var function = 0u;
        var dot = text.LastIndexOf('.');
        if (dot >= 0)
        {
            if (!TryHex(text[(dot + 1)..], 1, out function) || function > 7)
            {
                return null;
            }

            text = text[..dot];
        }

        // domain:bus:device, or bus:device when a function was given (lspci's short form).
        var last = text.LastIndexOf(':');
        if (last <= 0 || !TryHex(text[(last + 1)..], 2, out var device) || device > 0x1F)
        {
            return null;
        }

        text = text[..last];
        var colon = text.LastIndexOf(':');
        uint domain = 0, bus;
        if (colon < 0)
        {
            if (dot < 0 || !TryHex(text, 2, out bus))
            {
                return null;
            }
        }
        else if (!TryHex(text[(colon + 1)..], 2, out bus) || !TryHex(text[..colon], 8, out domain))
        {
            return null;
        }

        return bus > 0xFF
            ? null
            : string.Create(CultureInfo.InvariantCulture, $"{domain:X8}:{bus:X2}:{device:X2}.{function:X1}");
    }

    private static bool TryHex(ReadOnlySpan<char> text, int maxDigits, out uint value)
    {
        value = 0;
        return text.Length is > 0 && text.Length <= maxDigits &&
            uint.TryParse(text, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
    }
}
