using Gantry.Server.Dashboard.Charts;

namespace Gantry.Server.Tests.Dashboard.Charts;

/// <summary>Value, energy and duration formatting for tables, tooltips and chart axes.</summary>
public sealed class UnitsTests
{
    private const double GiB = 1024.0 * 1024 * 1024;

    [Theory]
    [InlineData(37.0, nameof(ChartUnit.Percent), "37 %")]
    [InlineData(37.4, nameof(ChartUnit.Percent), "37 %")]
    [InlineData(4.25, nameof(ChartUnit.Percent), "4.3 %")]
    [InlineData(100.0, nameof(ChartUnit.Percent), "100 %")]
    [InlineData(0.0, nameof(ChartUnit.Percent), "0 %")]
    [InlineData(45.4, nameof(ChartUnit.Celsius), "45 °C")]
    [InlineData(-0.3, nameof(ChartUnit.Celsius), "0 °C")]
    [InlineData(-12.0, nameof(ChartUnit.Celsius), "-12 °C")]
    [InlineData(120.0, nameof(ChartUnit.Watts), "120 W")]
    [InlineData(7.5, nameof(ChartUnit.Watts), "7.5 W")]
    [InlineData(1500.0, nameof(ChartUnit.Watts), "1.5 kW")]
    [InlineData(999.7, nameof(ChartUnit.Watts), "1 kW")]
    [InlineData(12_345.0, nameof(ChartUnit.Watts), "12.3 kW")]
    [InlineData(2.5e6, nameof(ChartUnit.Watts), "2.5 MW")]
    [InlineData(512.0, nameof(ChartUnit.Bytes), "512 B")]
    [InlineData(1536.0, nameof(ChartUnit.Bytes), "1.5 KiB")]
    [InlineData(11.2 * GiB, nameof(ChartUnit.Bytes), "11.2 GiB")]
    [InlineData(80 * GiB, nameof(ChartUnit.Bytes), "80 GiB")]
    [InlineData(1.41e9, nameof(ChartUnit.Hertz), "1.41 GHz")]
    [InlineData(810e6, nameof(ChartUnit.Hertz), "810 MHz")]
    [InlineData(42.0, nameof(ChartUnit.Plain), "42")]
    [InlineData(0.125, nameof(ChartUnit.Plain), "0.13")]
    [InlineData(12_500.0, nameof(ChartUnit.Plain), "12.5k")]
    public void Format_Value_ReadsWithUnit(double value, string unit, string expected) =>
        // The unit travels by name: ChartUnit is internal and xunit's theory methods are public.
        Assert.Equal(expected, Units.Format(value, Enum.Parse<ChartUnit>(unit)));

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void Format_NotFinite_IsMissingDash(double value) => Assert.Equal("–", Units.Format(value, ChartUnit.Watts));

    [Theory]
    [InlineData(45_000.0, "12.5 Wh")]
    [InlineData(3.6e6, "1 kWh")]
    [InlineData(45e6, "12.5 kWh")]
    [InlineData(7.2e9, "2 MWh")]
    [InlineData(0.0, "0 Wh")]
    public void FormatEnergy_Joules_WattHours(double joules, string expected) => Assert.Equal(expected, Units.FormatEnergy(joules));

    [Theory]
    [InlineData(0, "0 s")]
    [InlineData(850, "850 ms")]
    [InlineData(45_000, "45 s")]
    [InlineData(200_000, "3 m 20 s")]
    [InlineData(180_000, "3 m")]
    [InlineData(200_999, "3 m 20 s")]
    [InlineData(7_500_000, "2 h 5 m")]
    [InlineData(7_200_000, "2 h")]
    [InlineData(273_600_000, "3 d 4 h")]
    [InlineData(-45_000, "-45 s")]
    public void FormatDuration_Span_TwoLargestUnits(long milliseconds, string expected) =>
        Assert.Equal(expected, Units.FormatDuration(TimeSpan.FromMilliseconds(milliseconds)));
}
