namespace Gantry.Server.Jobs;

/// <summary>
/// Who submitted a job, taken from the submitting token at submit time: the person's name, the Unix user
/// its attempts run as on an agent running as root, and whether they may run as root. Stored on the job
/// (and on an array's record), so a later change to the token does not change a queued job.
/// </summary>
internal sealed record JobOwner(string Name, string? RunAsUser, bool AllowRoot);
