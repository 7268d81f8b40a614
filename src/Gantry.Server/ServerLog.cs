using Microsoft.Extensions.Logging;

namespace Gantry.Server;

/// <summary>Log messages of the server's start (event ids 2900+; the cluster uses 2000+, workers 2100+ and 2200+).</summary>
public static partial class ServerLog
{
    /// <summary>The server listens; tests and people read the URL from this line.</summary>
    [LoggerMessage(EventId = 2900, Level = LogLevel.Information, Message = "Server listening on {Url} (data in {DataDir})")]
    public static partial void Listening(ILogger logger, string url, string dataDir);

    /// <summary>Where people find the dashboard.</summary>
    [LoggerMessage(EventId = 2902, Level = LogLevel.Information, Message = "Dashboard at {Url}/ (log in with the admin token in {TokenPath})")]
    public static partial void Dashboard(ILogger logger, string url, string tokenPath);

    /// <summary>A token file was generated at first start.</summary>
    [LoggerMessage(EventId = 2901, Level = LogLevel.Information, Message = "Generated {Path} (keep it secret)")]
    public static partial void TokenWritten(ILogger logger, string path);

    /// <summary>A file of <c>--tls auto</c> was made (the CA at first start, the server certificate when due).</summary>
    [LoggerMessage(EventId = 2903, Level = LogLevel.Information, Message = "TLS: made {Path}")]
    public static partial void TlsFileMade(ILogger logger, string path);

    /// <summary>HTTPS is served; the pin agents give as --ca-cert-hash.</summary>
    [LoggerMessage(EventId = 2904, Level = LogLevel.Information, Message = "TLS: serving {CertificatePath}; the CA ({Subject}) has the pin {Pin}")]
    public static partial void TlsServing(ILogger logger, string certificatePath, string subject, string pin);

    /// <summary>The command that joins an agent, as kubeadm prints it.</summary>
    [LoggerMessage(EventId = 2905, Level = LogLevel.Information, Message = "Join agents with: {Command}")]
    public static partial void JoinCommand(ILogger logger, string command);
}
