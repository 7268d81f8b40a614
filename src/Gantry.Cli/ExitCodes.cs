namespace Gantry.Cli;

/// <summary>Exit codes shared by the client commands.</summary>
internal static class ExitCodes
{
    /// <summary>The call worked.</summary>
    public const int Success = 0;

    /// <summary>The server refused the request, could not be reached, or the job did not succeed.</summary>
    public const int Failure = 1;

    /// <summary>Bad input: a bad flag value or a bad client config; nothing was sent.</summary>
    public const int Usage = 2;

    /// <summary>Stopped by Ctrl+C (128 + SIGINT).</summary>
    public const int Interrupted = 130;
}

/// <summary>A bad flag value or setting, found before anything is sent. Exits with <see cref="ExitCodes.Usage"/>.</summary>
internal sealed class UsageException(string setting, string message) : Exception(message)
{
    /// <summary>The flag (<c>--gpus</c>), variable or file that is wrong.</summary>
    public string Setting { get; } = setting;
}
