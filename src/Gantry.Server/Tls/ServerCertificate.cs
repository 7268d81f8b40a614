using System.Net.Security;
using Microsoft.Extensions.Logging;

namespace Gantry.Server.Tls;

/// <summary>
/// The certificate the server presents, read from its PEM files and read again when they change: each TLS
/// handshake asks <see cref="Current"/>, which looks at the files' modification times at most once every
/// <see cref="CheckEvery"/>. A new pair that cannot be used (half written, a key that does not match) keeps
/// the old one, with a warning, until the files change again. Thread-safe.
/// </summary>
internal sealed partial class ServerCertificate
{
    /// <summary>How often a handshake may look at the files.</summary>
    public static readonly TimeSpan CheckEvery = TimeSpan.FromSeconds(2);

    private readonly string _certificatePath;
    private readonly string _keyPath;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private volatile CertificatePair _pair;
    private (DateTime Certificate, DateTime Key) _seen;
    private long _nextCheck;

    /// <summary>Reads the pair now; throws <see cref="TlsFileException"/> when it cannot be used.</summary>
    public ServerCertificate(string certificatePath, string keyPath, TimeProvider time, ILogger logger)
    {
        _certificatePath = certificatePath;
        _keyPath = keyPath;
        _time = time;
        _logger = logger;
        _seen = Stamps();
        _pair = CertificatePair.Load(certificatePath, keyPath, time.GetUtcNow());
        _nextCheck = time.GetTimestamp() + Ticks(CheckEvery);
    }

    /// <summary>The certificate file.</summary>
    public string CertificatePath => _certificatePath;

    /// <summary>The pair in use.</summary>
    public CertificatePair Pair => _pair;

    /// <summary>What a TLS handshake presents now, read again first when the files changed.</summary>
    public SslStreamCertificateContext Current
    {
        get
        {
            var now = _time.GetTimestamp();
            if (now >= Interlocked.Read(ref _nextCheck))
            {
                Check(now);
            }

            return _pair.Context;
        }
    }

    private void Check(long now)
    {
        // One handshake looks; the others present what is there meanwhile.
        if (!_lock.TryEnter())
        {
            return;
        }

        try
        {
            Interlocked.Exchange(ref _nextCheck, now + Ticks(CheckEvery));
            var stamps = Stamps();
            if (stamps == _seen)
            {
                return;
            }

            _seen = stamps;
            try
            {
                _pair = CertificatePair.Load(_certificatePath, _keyPath, _time.GetUtcNow());
                var pair = _pair;
                var (subject, notAfter, pin) = (pair.Leaf.Subject, pair.Leaf.NotAfter.ToUniversalTime(), pair.Pin);
                Log.Reloaded(_logger, _certificatePath, subject, notAfter, pin);
            }
            catch (TlsFileException ex)
            {
                Log.ReloadFailed(_logger, "--" + ex.Setting, ex.Message, ex);
            }
        }
        finally
        {
            _lock.Exit();
        }
    }

    private (DateTime, DateTime) Stamps() => (Stamp(_certificatePath), Stamp(_keyPath));

    // A missing file reads as the year 1601: a change like any other, refused at load with its reason.
    private static DateTime Stamp(string path) => File.GetLastWriteTimeUtc(path);

    private long Ticks(TimeSpan span) => (long)(span.TotalSeconds * _time.TimestampFrequency);

    private static partial class Log
    {
        [LoggerMessage(EventId = 2910, Level = LogLevel.Information, Message = "TLS certificate reloaded from {Path}: {Subject}, valid until {NotAfter:u}; CA pin {Pin}")]
        public static partial void Reloaded(ILogger logger, string path, string subject, DateTime notAfter, string pin);

        [LoggerMessage(EventId = 2911, Level = LogLevel.Warning, Message = "The TLS certificate files changed but cannot be used ({Setting}: {Reason}); still serving the previous certificate")]
        public static partial void ReloadFailed(ILogger logger, string setting, string reason, Exception exception);
    }
}
