using System.Text.Json;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;

namespace Gantry.Core.Tests;

/// <summary>The API's enum format: camelCase names, nothing else.</summary>
public sealed class CamelCaseEnumConverterTests
{
    private sealed record Holder(JobState State);

    private static readonly JsonSerializerOptions Options = new() { Converters = { new CamelCaseEnumConverter<JobState>() } };

    private static readonly JsonSerializerOptions CaseInsensitive = new(Options) { PropertyNameCaseInsensitive = true };

    private static readonly JsonSerializerOptions EndCauses = new() { Converters = { new CamelCaseEnumConverter<AttemptEndCause>() } };

    [Fact]
    public void Write_EveryValue_IsItsCamelCaseName()
    {
        Assert.Equal("\"pending\"", JsonSerializer.Serialize(JobState.Pending, GantryJson.Default.JobState));
        Assert.Equal("\"timedOut\"", JsonSerializer.Serialize(AttemptEndCause.TimedOut, EndCauses));
        foreach (var state in Enum.GetValues<JobState>())
        {
            var json = JsonSerializer.Serialize(state, GantryJson.Default.JobState);
            Assert.Equal(state, JsonSerializer.Deserialize(json, GantryJson.Default.JobState));
        }
    }

    [Theory]
    [InlineData("\"Running\"")]
    [InlineData("\"RUNNING\"")]
    public void Read_OtherLetterCase_IsAccepted(string json)
    {
        Assert.Equal(JobState.Running, JsonSerializer.Deserialize(json, GantryJson.Default.JobState));
    }

    [Theory]
    [InlineData("{\"state\":2}")]
    [InlineData("{\"state\":\"sleeping\"}")]
    [InlineData("{\"state\":\"\"}")]
    [InlineData("{\"state\":null}")]
    public void Read_NumberOrUnknownName_FailsWithTheUsualMessageAndPath(string json)
    {
        var error = Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<Holder>(json, CaseInsensitive));

        Assert.Equal("$.state", error.Path);
        Assert.StartsWith("The JSON value could not be converted to ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DictionaryKeys_AreNamesBothWays()
    {
        var counts = new Dictionary<JobState, int> { [JobState.Running] = 2, [JobState.Failed] = 1 };

        var json = JsonSerializer.Serialize(counts, Options);

        Assert.Equal("{\"running\":2,\"failed\":1}", json);
        Assert.Equal(counts, JsonSerializer.Deserialize<Dictionary<JobState, int>>(json, Options));
    }
}
