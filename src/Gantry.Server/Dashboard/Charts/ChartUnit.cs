namespace Gantry.Server.Dashboard.Charts;

/// <summary>What a chart's or a table cell's numbers measure; picks the suffix, the prefixes and the precision.</summary>
internal enum ChartUnit
{
    /// <summary>A share on the 0 to 100 scale ("37 %"). Telemetry utilization is 0 to 1: multiply by 100 first.</summary>
    Percent,

    /// <summary>Degrees Celsius ("45 °C").</summary>
    Celsius,

    /// <summary>Watts, with SI prefixes ("120 W", "1.5 kW").</summary>
    Watts,

    /// <summary>Bytes, with binary (IEC) prefixes ("11.2 GiB").</summary>
    Bytes,

    /// <summary>Hertz, with SI prefixes ("1.41 GHz").</summary>
    Hertz,

    /// <summary>A bare number, with k/M/G/T past a thousand ("12.5k").</summary>
    Plain,
}
