namespace Gantry.Telemetry.Model;

/// <summary>
/// One RAPL energy domain. <paramref name="Package"/> is the socket (0, 1, …) so two sockets
/// never collide; <paramref name="Domain"/> is <c>package</c>, <c>core</c>, <c>uncore</c>,
/// <c>dram</c> or <c>psys</c>. <paramref name="EnergyJoules"/> is wrap-around corrected and
/// only ever grows while the agent runs.
/// </summary>
public sealed record RaplDomainSample(int Package, string Domain, string Zone, double EnergyJoules);

/// <summary>A power meter read through hwmon (<c>power*_input</c>), e.g. an ACPI power meter.</summary>
public sealed record PowerMeterSample(string Chip, string Sensor, double Watts);

/// <summary>What the power collectors saw, with any reading that needed more privileges.</summary>
public sealed record PowerSnapshot(
    IReadOnlyList<RaplDomainSample> Rapl,
    IReadOnlyList<PowerMeterSample> Meters,
    string? PermissionNote);
