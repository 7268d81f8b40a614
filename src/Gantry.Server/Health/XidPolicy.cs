using System.Globalization;
using System.Text.Json;
using Gantry.Core.Protocol;

namespace Gantry.Server.Health;

/// <summary>
/// What the server does about an XID: NVIDIA's XID catalogue's immediate resolution buckets
/// (docs.nvidia.com, "XID errors"), plus <see cref="Watch"/> for an XID with no fixed action.
/// </summary>
public enum XidAction
{
    /// <summary>Nothing (the catalogue's IGNORE): informational, or the driver handled it.</summary>
    Ignore,

    /// <summary>Mark the GPU degraded (watched); it keeps taking work.</summary>
    Watch,

    /// <summary>The job on the GPU fails (RESTART_APP); the GPU stays in service.</summary>
    RestartApp,

    /// <summary>Cordon the GPU until a reset is seen (RESET_GPU); its job is requeued.</summary>
    ResetGpu,

    /// <summary>Drain the node until it reboots (RESTART_BM); the GPU's job is requeued.</summary>
    Reboot,
}

/// <summary>
/// The XID table the health policy goes by: <see cref="Defaults"/>, with the server's overrides
/// (<c>--xid-policy</c>) on top; an XID in neither is <see cref="XidAction.Watch"/>. Immutable.
/// </summary>
public sealed class XidPolicy
{
    /// <summary>
    /// The defaults, after the immediate resolution bucket of NVIDIA's catalogue for Ampere and later
    /// GPUs (docs/health.md lists them with their meaning).
    /// </summary>
    public static IReadOnlyDictionary<long, XidAction> Defaults { get; } = new Dictionary<long, XidAction>
    {
        // IGNORE: a channel reset after an application fault, cleanup after earlier errors, a page
        // retirement or row remap recorded (its pending flag is what needs the reset).
        [43] = XidAction.Ignore,
        [45] = XidAction.Ignore,
        [63] = XidAction.Ignore,

        // RESTART_APP: the application's fault (or one contained to it); the GPU is fine.
        [8] = XidAction.RestartApp,
        [13] = XidAction.RestartApp,
        [31] = XidAction.RestartApp,
        [68] = XidAction.RestartApp,
        [69] = XidAction.RestartApp,
        [94] = XidAction.RestartApp,

        // RESET_GPU: double-bit ECC, a failed retirement or remap, an NVLink error, an uncontained
        // ECC error, GSP timeouts and errors, a C2C link error, an unrecovered ECC error.
        [48] = XidAction.ResetGpu,
        [64] = XidAction.ResetGpu,
        [74] = XidAction.ResetGpu,
        [95] = XidAction.ResetGpu,
        [119] = XidAction.ResetGpu,
        [120] = XidAction.ResetGpu,
        [121] = XidAction.ResetGpu,
        [140] = XidAction.ResetGpu,

        // RESTART_BM: the GPU fell off the bus.
        [79] = XidAction.Reboot,
    };

    private static readonly Dictionary<long, string> Descriptions = new()
    {
        [8] = "GPU stopped processing",
        [13] = "graphics engine exception",
        [31] = "GPU memory page fault",
        [43] = "GPU stopped processing a channel",
        [45] = "preemptive cleanup after earlier errors",
        [48] = "double-bit ECC error",
        [63] = "page retirement or row remap recorded",
        [64] = "page retirement or row remap failure",
        [68] = "video decoder exception",
        [69] = "graphics engine class error",
        [74] = "NVLink error",
        [79] = "GPU has fallen off the bus",
        [92] = "high single-bit ECC error rate",
        [94] = "contained ECC error",
        [95] = "uncontained ECC error",
        [119] = "GSP RPC timeout",
        [120] = "GSP error",
        [121] = "C2C link error",
        [140] = "unrecovered ECC error",
        [154] = "GPU recovery action changed",
    };

    private readonly Dictionary<long, XidAction> _table;

    /// <summary>The defaults with <paramref name="overrides"/> on top.</summary>
    public XidPolicy(IReadOnlyDictionary<long, XidAction> overrides)
    {
        ArgumentNullException.ThrowIfNull(overrides);
        _table = new Dictionary<long, XidAction>(Defaults);
        foreach (var (xid, action) in overrides)
        {
            _table[xid] = action;
        }
    }

    /// <summary>What to do about <paramref name="xid"/>.</summary>
    public XidAction ActionFor(long xid) => _table.TryGetValue(xid, out var action) ? action : XidAction.Watch;

    /// <summary>
    /// What the driver's recovery action asks for, when it asks for something: it wins over the table for
    /// the XIDs reported with it. <see cref="GpuRecoveryNeed.DrainP2P"/> stops the work using the GPU.
    /// </summary>
    public static XidAction? ForRecovery(GpuRecoveryNeed? need) => need switch
    {
        null or GpuRecoveryNeed.None => null,
        GpuRecoveryNeed.NodeReboot => XidAction.Reboot,
        GpuRecoveryNeed.DrainP2P => XidAction.RestartApp,
        _ => XidAction.ResetGpu,
    };

    /// <summary>What an XID means in a few words, for causes people read; null for one not described here.</summary>
    public static string? Describe(long xid) => Descriptions.GetValueOrDefault(xid);

    /// <summary>The action's name as settings, the CLI and the docs write it: <c>reset-gpu</c>.</summary>
    public static string Name(XidAction action) => action switch
    {
        XidAction.Ignore => "ignore",
        XidAction.Watch => "watch",
        XidAction.RestartApp => "restart-app",
        XidAction.ResetGpu => "reset-gpu",
        _ => "reboot",
    };

    /// <summary>
    /// Parses <c>--xid-policy</c>: <c>XID=ACTION</c> pairs separated by commas (<c>48=reset-gpu,13=ignore</c>;
    /// a config file's <c>"xidPolicy": {"48": "reset-gpu"}</c> arrives so), or the path of a JSON file
    /// holding such an object. Actions: <c>ignore</c>, <c>watch</c>, <c>restart-app</c>, <c>reset-gpu</c>,
    /// <c>reboot</c>, or the catalogue's bucket names (<c>RESTART_APP</c>, <c>RESET_GPU</c>, <c>RESTART_BM</c>, <c>IGNORE</c>).
    /// </summary>
    /// <exception cref="FormatException">The text or the file says something else, or the file cannot be read.</exception>
    public static Dictionary<long, XidAction> Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        text = text.Trim();
        if (text.Length == 0)
        {
            throw new FormatException("expected XID=ACTION pairs (48=reset-gpu,13=ignore) or a JSON file");
        }

        return LooksLikePairs(text) ? ParsePairs(text) : ParseFile(text);
    }

    private static bool LooksLikePairs(string text)
    {
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            var equals = part.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0 || !long.TryParse(part.AsSpan(0, equals).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out _))
            {
                return false;
            }
        }

        return true;
    }

    private static Dictionary<long, XidAction> ParsePairs(string text)
    {
        var table = new Dictionary<long, XidAction>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            var equals = part.IndexOf('=', StringComparison.Ordinal);
            Add(table, part[..equals].Trim(), part[(equals + 1)..].Trim());
        }

        return table;
    }

    private static Dictionary<long, XidAction> ParseFile(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new FormatException($"expected XID=ACTION pairs or a readable JSON file; cannot read '{path}': {ex.Message}", ex);
        }

        var table = new Dictionary<long, XidAction>();
        try
        {
            using var document = JsonDocument.Parse(bytes);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new FormatException($"{path} must hold a JSON object of XID to action, e.g. {{\"48\": \"reset-gpu\"}}");
            }

            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (property.Value.ValueKind != JsonValueKind.String)
                {
                    throw new FormatException($"{path}: XID {property.Name} must map to an action name in quotes");
                }

                Add(table, property.Name, property.Value.GetString()!);
            }
        }
        catch (JsonException ex)
        {
            throw new FormatException($"{path} is not valid JSON: {ex.Message}", ex);
        }

        return table;
    }

    private static void Add(Dictionary<long, XidAction> table, string xid, string action)
    {
        if (!long.TryParse(xid, NumberStyles.None, CultureInfo.InvariantCulture, out var number) || number is < 1 or > 1_000_000)
        {
            throw new FormatException($"'{xid}' is not an XID number (1 to 1000000)");
        }

        table[number] = ParseAction(action) ?? throw new FormatException(
            $"XID {number}: '{action}' is not an action; expected ignore, watch, restart-app, reset-gpu or reboot (or IGNORE, RESTART_APP, RESET_GPU, RESTART_BM)");
    }

    private static XidAction? ParseAction(string name) => name.Trim().Replace('_', '-').ToLowerInvariant() switch
    {
        "ignore" => XidAction.Ignore,
        "watch" => XidAction.Watch,
        "restart-app" => XidAction.RestartApp,
        "reset-gpu" => XidAction.ResetGpu,
        "reboot" or "restart-bm" => XidAction.Reboot,
        _ => null,
    };
}
