namespace Gantry.Hosting.Settings;

/// <summary>A setting's name and what is wrong with its value.</summary>
/// <param name="Setting">The setting's name as a flag without dashes (<c>down-after</c>), or <c>config</c> for the config file itself.</param>
/// <param name="Message">What is wrong, and where the value came from when that was not a flag.</param>
public sealed record SettingProblem(string Setting, string Message)
{
    /// <summary><c>--down-after: must be …</c>: how the CLI prints it after <c>gantry server: </c>.</summary>
    public override string ToString() => $"--{Setting}: {Message}";
}

/// <summary>Settings with bad values; the CLI prints each problem and exits with code 2 before anything starts.</summary>
public sealed class SettingException : Exception
{
    /// <summary>One problem.</summary>
    public SettingException(string setting, string message)
        : this([new SettingProblem(setting, message)])
    {
    }

    /// <summary>One or more problems, in the order of the settings.</summary>
    public SettingException(IReadOnlyList<SettingProblem> problems)
        : base(string.Join(Environment.NewLine, problems ?? throw new ArgumentNullException(nameof(problems))))
    {
        ArgumentOutOfRangeException.ThrowIfZero(problems.Count);
        Problems = problems;
    }

    /// <summary>Every problem found.</summary>
    public IReadOnlyList<SettingProblem> Problems { get; }

    /// <summary>The first problem's setting, e.g. <c>interval</c>.</summary>
    public string Setting => Problems[0].Setting;

    /// <summary>Writes one line per problem: <c>gantry server: --down-after: must be …</c>.</summary>
    public async Task WriteToAsync(TextWriter writer, string command)
    {
        ArgumentNullException.ThrowIfNull(writer);
        foreach (var problem in Problems)
        {
            await writer.WriteLineAsync($"{command}: {problem}").ConfigureAwait(false);
        }
    }
}
