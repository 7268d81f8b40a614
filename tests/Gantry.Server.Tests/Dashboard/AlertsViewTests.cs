using Gantry.Core.Protocol;
using Gantry.Server.Dashboard.Views;

namespace Gantry.Server.Tests.Dashboard;

/// <summary>The alerts page's small parts: reading the silence form's matchers, and the matchers its "Silence…" link fills in.</summary>
public sealed class AlertsViewTests
{
    [Theory]
    [InlineData("alertname=GantryGpuHot", new[] { "alertname=GantryGpuHot" })]
    [InlineData("alertname=GantryGpuHot node=~gpu-0[1-4]", new[] { "alertname=GantryGpuHot", "node=~gpu-0[1-4]" })]
    [InlineData("  alertname=A\r\n\r\n node!=b \n", new[] { "alertname=A", "node!=b" })]
    [InlineData("comment=\"fan swap\" gpu=1", new[] { "comment=\"fan swap\"", "gpu=1" })]
    [InlineData("a=\"x \\\" y\" b=2", new[] { "a=\"x \\\" y\"", "b=2" })]
    [InlineData("a=\"open\nb=2", new[] { "a=\"open", "b=2" })]
    [InlineData("   ", new string[0])]
    public void SplitMatchers_LinesSpacesAndQuotes_OneMatcherEach(string text, string[] expected) =>
        Assert.Equal(expected, AlertsData.SplitMatchers(text));

    [Fact]
    public void MatchersFor_Alert_NameThenEveryLabelQuotedWhereNeeded()
    {
        var alert = new AlertInfo
        {
            Name = "GantryGpuHot",
            Group = "gantry-builtin",
            State = AlertState.Firing,
            Labels = new Dictionary<string, string> { ["alertname"] = "GantryGpuHot", ["node"] = "gpu-01", ["gpu"] = "3", ["cause"] = "fan \"2\" stuck" },
            Annotations = new Dictionary<string, string>(),
            Value = 91,
            ActiveAt = DateTimeOffset.UnixEpoch,
            Fingerprint = "f",
        };

        var text = AlertsData.MatchersFor(alert);

        Assert.Equal("alertname=GantryGpuHot\ncause=\"fan \\\"2\\\" stuck\"\ngpu=3\nnode=gpu-01", text);
        Assert.Equal(["alertname=GantryGpuHot", "cause=\"fan \\\"2\\\" stuck\"", "gpu=3", "node=gpu-01"], AlertsData.SplitMatchers(text));
    }
}
