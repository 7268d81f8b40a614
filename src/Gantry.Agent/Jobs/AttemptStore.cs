using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Gantry.Agent.Jobs;

/// <summary>What the agent keeps on disk about one live attempt, enough to kill its group after a restart.</summary>
internal sealed record AttemptRecord
{
    public required long JobId { get; init; }
    public required int Attempt { get; init; }
    public required long Epoch { get; init; }

    /// <summary>The leader's pid, which is also the process group id.</summary>
    public required int Pid { get; init; }

    /// <summary>The leader's start time in clock ticks since boot (<c>/proc/&lt;pid&gt;/stat</c> field 22); 0 when unknown.</summary>
    public required ulong StartTicks { get; init; }

    public required DateTimeOffset StartedAt { get; init; }

    [JsonIgnore]
    public AttemptKey Key => new(JobId, Attempt, Epoch);
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(AttemptRecord))]
internal sealed partial class AttemptStoreJson : JsonSerializerContext;

/// <summary>
/// One small JSON file per live attempt under <c>&lt;state-dir&gt;/attempts/</c>, written when the
/// process starts and deleted when its end is queued.
/// </summary>
internal sealed class AttemptStore(string stateDir)
{
    private readonly string _dir = Path.Combine(stateDir, "attempts");

    public string Directory => _dir;

    public void Write(AttemptRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        System.IO.Directory.CreateDirectory(_dir);
        var path = PathOf(record.Key);
        var temp = path + ".tmp";
        File.WriteAllBytes(temp, JsonSerializer.SerializeToUtf8Bytes(record, AttemptStoreJson.Default.AttemptRecord));
        File.Move(temp, path, overwrite: true);
    }

    public void Delete(AttemptKey key) => File.Delete(PathOf(key));

    /// <summary>Every readable record; files that are not records (a torn write) are deleted and skipped.</summary>
    public List<AttemptRecord> ReadAll()
    {
        var records = new List<AttemptRecord>();
        if (!System.IO.Directory.Exists(_dir))
        {
            return records;
        }

        foreach (var file in System.IO.Directory.EnumerateFiles(_dir))
        {
            AttemptRecord? record = null;
            if (file.EndsWith(".json", StringComparison.Ordinal))
            {
                try
                {
                    record = JsonSerializer.Deserialize(File.ReadAllBytes(file), AttemptStoreJson.Default.AttemptRecord);
                }
                catch (JsonException)
                {
                    record = null;
                }
            }

            if (record is null)
            {
                File.Delete(file);
                continue;
            }

            records.Add(record);
        }

        return records;
    }

    private string PathOf(AttemptKey key) =>
        Path.Combine(_dir, string.Create(CultureInfo.InvariantCulture, $"{key.JobId}-{key.Attempt}-{key.Epoch}.json"));
}
