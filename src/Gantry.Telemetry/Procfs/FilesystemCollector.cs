using Gantry.Telemetry.Collection;
using Gantry.Telemetry.Model;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gantry.Telemetry.Procfs;

/// <summary>
/// Lists mounted filesystems from <c>/proc/self/mountinfo</c> (or <c>/proc/mounts</c>) and
/// reads their sizes with <c>statvfs</c>. Pseudo filesystems and system mount points are left
/// out with node_exporter's defaults. A mount whose size cannot be read (a stale network
/// share, a mount point this user cannot reach) is left out of that sample.
/// </summary>
public sealed class FilesystemCollector : ICollector<IReadOnlyList<FilesystemSample>>
{
    // node_exporter's --collector.filesystem.fs-types-exclude default.
    private static readonly HashSet<string> IgnoredTypes = new(StringComparer.Ordinal)
    {
        "autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs", "debugfs", "devpts", "devtmpfs",
        "erofs", "fusectl", "hugetlbfs", "iso9660", "mqueue", "nsfs", "overlay", "proc", "procfs", "pstore",
        "rpc_pipefs", "securityfs", "selinuxfs", "squashfs", "sysfs", "tracefs",
    };

    private readonly string _mountInfoPath;
    private readonly string _mountsPath;
    private readonly FilesystemSizeReader _sizeReader;
    private readonly ILogger _logger;

    public FilesystemCollector(HostPaths paths, ILogger<FilesystemCollector>? logger = null)
        : this(paths, StatVfs.Read, logger)
    {
    }

    internal FilesystemCollector(HostPaths paths, FilesystemSizeReader sizeReader, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(paths);
        ArgumentNullException.ThrowIfNull(sizeReader);
        _mountInfoPath = Path.Combine(paths.Proc, "self", "mountinfo");
        _mountsPath = Path.Combine(paths.Proc, "mounts");
        _sizeReader = sizeReader;
        _logger = logger ?? NullLogger.Instance;
    }

    public string Name => "filesystem";

    public ValueTask<IReadOnlyList<FilesystemSample>> CollectAsync(CancellationToken cancellationToken)
    {
        var mountInfo = KernelFile.TryReadText(_mountInfoPath);
        var mounts = mountInfo is not null ? ParseMountInfo(mountInfo) : ParseMounts(File.ReadAllText(_mountsPath));

        var samples = new List<FilesystemSample>(mounts.Count);
        foreach (var mount in mounts)
        {
            cancellationToken.ThrowIfCancellationRequested();
            FilesystemSize size;
            try
            {
                size = _sizeReader(mount.MountPoint);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                HostLog.FilesystemStatFailed(_logger, mount.MountPoint, ex);
                continue;
            }

            // Filesystems without inodes (vfat, btrfs) report zero files: unknown, not zero.
            samples.Add(new FilesystemSample(
                mount.Device,
                mount.MountPoint,
                mount.FsType,
                size.SizeBytes,
                size.FreeBytes,
                size.AvailableBytes,
                size.Files == 0 ? null : size.Files,
                size.Files == 0 ? null : size.FilesFree,
                mount.ReadOnly));
        }

        return ValueTask.FromResult<IReadOnlyList<FilesystemSample>>(samples);
    }

    /// <summary>One mount that passed the filters.</summary>
    internal sealed record Mount(string Device, string MountPoint, string FsType, bool ReadOnly);

    /// <summary>
    /// Parses <c>/proc/self/mountinfo</c>. A mount point mounted over again keeps only its
    /// latest (visible) mount.
    /// </summary>
    internal static IReadOnlyList<Mount> ParseMountInfo(string mountInfo)
    {
        var mounts = new List<Mount>();
        var indexByMountPoint = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var line in mountInfo.AsSpan().EnumerateLines())
        {
            // 36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue
            // id parent dev root mountpoint options [optional…] - fstype source superoptions
            var fields = new FieldReader(line);
            if (!fields.Skip(4) || !fields.TryNext(out var mountPoint) || !fields.TryNext(out var options))
            {
                continue;
            }

            ReadOnlySpan<char> field;
            while (fields.TryNext(out field) && !field.SequenceEqual("-"))
            {
            }

            if (!fields.TryNext(out var fsType) || !fields.TryNext(out var source))
            {
                continue;
            }

            fields.TryNext(out var superOptions);
            Add(mounts, indexByMountPoint, source, mountPoint, fsType, HasOption(options, "ro") || HasOption(superOptions, "ro"));
        }

        return mounts;
    }

    /// <summary>Parses <c>/proc/mounts</c>, the fallback when mountinfo is missing.</summary>
    internal static IReadOnlyList<Mount> ParseMounts(string procMounts)
    {
        var mounts = new List<Mount>();
        var indexByMountPoint = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var line in procMounts.AsSpan().EnumerateLines())
        {
            // /dev/sda1 / ext4 rw,relatime 0 0
            var fields = new FieldReader(line);
            if (fields.TryNext(out var source) && fields.TryNext(out var mountPoint)
                && fields.TryNext(out var fsType) && fields.TryNext(out var options))
            {
                Add(mounts, indexByMountPoint, source, mountPoint, fsType, HasOption(options, "ro"));
            }
        }

        return mounts;
    }

    private static void Add(List<Mount> mounts, Dictionary<string, int> indexByMountPoint, ReadOnlySpan<char> source, ReadOnlySpan<char> mountPoint, ReadOnlySpan<char> fsType, bool readOnly)
    {
        var type = fsType.ToString();
        if (IgnoredTypes.Contains(type))
        {
            return;
        }

        var point = Unescape(mountPoint);
        if (IsIgnoredMountPoint(point))
        {
            return;
        }

        // A mount point mounted over again shows the later mount; it keeps the earlier place.
        var mount = new Mount(Unescape(source), point, type, readOnly);
        if (indexByMountPoint.TryGetValue(point, out var index))
        {
            mounts[index] = mount;
        }
        else
        {
            indexByMountPoint.Add(point, mounts.Count);
            mounts.Add(mount);
        }
    }

    /// <summary>
    /// node_exporter's --collector.filesystem.mount-points-exclude default,
    /// <c>^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)</c>.
    /// </summary>
    internal static bool IsIgnoredMountPoint(ReadOnlySpan<char> mountPoint) =>
        IsAtOrUnder(mountPoint, "/dev") || IsAtOrUnder(mountPoint, "/proc") || IsAtOrUnder(mountPoint, "/sys")
        || IsStrictlyUnder(mountPoint, "/run/credentials/")
        || IsStrictlyUnder(mountPoint, "/var/lib/docker/")
        || IsStrictlyUnder(mountPoint, "/var/lib/containers/storage/");

    private static bool IsAtOrUnder(ReadOnlySpan<char> path, ReadOnlySpan<char> root) =>
        path.StartsWith(root, StringComparison.Ordinal) && (path.Length == root.Length || path[root.Length] == '/');

    private static bool IsStrictlyUnder(ReadOnlySpan<char> path, ReadOnlySpan<char> rootWithSlash) =>
        path.Length > rootWithSlash.Length && path.StartsWith(rootWithSlash, StringComparison.Ordinal);

    // Mount options are a comma-separated list: "rw,nosuid,nodev,relatime".
    private static bool HasOption(ReadOnlySpan<char> options, ReadOnlySpan<char> option)
    {
        foreach (var range in options.Split(','))
        {
            if (options[range].SequenceEqual(option))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Decodes the kernel's octal escapes in mount fields: space <c>\040</c>, tab <c>\011</c>,
    /// newline <c>\012</c> and backslash <c>\134</c>.
    /// </summary>
    internal static string Unescape(ReadOnlySpan<char> text)
    {
        var backslash = text.IndexOf('\\');
        if (backslash < 0)
        {
            return text.ToString();
        }

        var builder = new System.Text.StringBuilder(text.Length);
        while (backslash >= 0)
        {
            builder.Append(text[..backslash]);
            var escape = text[(backslash + 1)..];
            if (escape.Length >= 3 && IsOctal(escape[0]) && IsOctal(escape[1]) && IsOctal(escape[2]))
            {
                builder.Append((char)(((escape[0] - '0') << 6) | ((escape[1] - '0') << 3) | (escape[2] - '0')));
                text = escape[3..];
            }
            else
            {
                builder.Append('\\');
                text = escape;
            }

            backslash = text.IndexOf('\\');
        }

        return builder.Append(text).ToString();
    }

    private static bool IsOctal(char c) => c is >= '0' and <= '7';
}
