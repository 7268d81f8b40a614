using System.Globalization;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Core.Text;

namespace Gantry.Server.Dashboard.Views;

/// <summary>Turns the dashboard's submit form into a <see cref="JobSubmission"/>, with errors that name the form's fields.</summary>
internal static class JobSubmit
{
    // API field (as Validation names it) → form field and its label.
    private static readonly (string Api, string Field, string Label)[] Fields =
    [
        ("command", "command", "Command"),
        ("name", "name", "Name"),
        ("resources.gpus", "gpus", "GPUs"),
        ("priority", "priority", "Priority"),
        ("maxRuntimeSeconds", "maxRuntime", "Max run time"),
        ("retries", "retries", "Retries"),
    ];

    /// <summary>The form again with an error when a field cannot be read; null when every field can.</summary>
    public static JobForm? Parse(JobForm form)
    {
        ArgumentNullException.ThrowIfNull(form);
        if (form.Command.Trim().Length == 0)
        {
            return form with { Error = "Command: enter the command line to run.", ErrorField = "command" };
        }

        if (!IsWhole(form.Gpus))
        {
            return form with { Error = $"GPUs: must be a whole number, got '{form.Gpus}'.", ErrorField = "gpus" };
        }

        if (!IsWhole(form.Priority))
        {
            return form with { Error = $"Priority: must be a whole number from 0 to 100, got '{form.Priority}'.", ErrorField = "priority" };
        }

        if (!IsWhole(form.Retries))
        {
            return form with { Error = $"Retries: must be a whole number, got '{form.Retries}'.", ErrorField = "retries" };
        }

        if (form.MaxRuntime.Trim().Length > 0 && (!Durations.TryParse(form.MaxRuntime.Trim(), out var max) || max <= TimeSpan.Zero))
        {
            return form with { Error = $"Max run time: must be a duration such as 90s, 10m or 2h, got '{form.MaxRuntime}'.", ErrorField = "maxRuntime" };
        }

        return null;
    }

    /// <summary>The submission of a form that <see cref="Parse"/> accepted: the command runs with <c>/bin/sh -c</c>.</summary>
    public static JobSubmission ToSubmission(JobForm form)
    {
        ArgumentNullException.ThrowIfNull(form);
        double? maxRuntime = form.MaxRuntime.Trim().Length > 0 && Durations.TryParse(form.MaxRuntime.Trim(), out var max) ? max.TotalSeconds : null;
        return new JobSubmission
        {
            Name = form.Name.Trim().Length == 0 ? null : form.Name.Trim(),
            Command = [form.Command.Trim()],
            Shell = true,
            Resources = new ResourceRequest { Gpus = Whole(form.Gpus) },
            Priority = Whole(form.Priority),
            MaxRuntimeSeconds = maxRuntime,
            Retries = Whole(form.Retries),
        };
    }

    /// <summary>The form again with the first of the server's validation errors, named by form field.</summary>
    public static JobForm Refused(JobForm form, IReadOnlyDictionary<string, string[]> errors)
    {
        ArgumentNullException.ThrowIfNull(form);
        ArgumentNullException.ThrowIfNull(errors);
        foreach (var (api, field, label) in Fields)
        {
            foreach (var (key, messages) in errors)
            {
                if (key == api || key.StartsWith(api + "[", StringComparison.Ordinal))
                {
                    return form with { Error = $"{label}: {string.Join("; ", messages)}.", ErrorField = field };
                }
            }
        }

        var (firstKey, firstMessages) = errors.First();
        return form with { Error = $"{firstKey}: {string.Join("; ", firstMessages)}." };
    }

    private static bool IsWhole(string text) =>
        int.TryParse(text.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _);

    private static int Whole(string text) => int.Parse(text.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
}
