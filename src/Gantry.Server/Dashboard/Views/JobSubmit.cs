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
        ("deadline", "deadline", "Deadline"),
        ("expectedRuntimeSeconds", "expectedRuntime", "Expected run time"),
        ("container.image", "image", "Image"),
        ("container.runtime", "runtime", "Runtime"),
    ];

    /// <summary>The form again with an error when a field cannot be read; null when every field can.</summary>
    public static JobForm? Parse(JobForm form)
    {
        ArgumentNullException.ThrowIfNull(form);
        // A container job may leave the command out: its image's own runs.
        if (form.Command.Trim().Length == 0 && form.Image.Trim().Length == 0)
        {
            return form with { Error = "Command: enter the command line to run (or an image to run).", ErrorField = "command" };
        }

        if (form.Image.Trim().Length > 0 && form.Runtime.Trim() is not ("podman" or "docker"))
        {
            return form with { Error = $"Runtime: must be podman or docker, got '{form.Runtime}'.", ErrorField = "runtime" };
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

        if (form.Deadline.Trim().Length > 0 && !TryDeadline(form.Deadline.Trim(), default, out _))
        {
            return form with { Error = $"Deadline: must be a duration from now such as 8h or a time such as 2026-12-04T06:00Z, got '{form.Deadline}'.", ErrorField = "deadline" };
        }

        if (form.ExpectedRuntime.Trim().Length > 0 && (!Durations.TryParse(form.ExpectedRuntime.Trim(), out var expected) || expected <= TimeSpan.Zero))
        {
            return form with { Error = $"Expected run time: must be a duration such as 45m or 2h, got '{form.ExpectedRuntime}'.", ErrorField = "expectedRuntime" };
        }

        return null;
    }

    /// <summary>A deadline as typed: a duration from <paramref name="now"/> or a time (UTC unless it names its offset).</summary>
    private static bool TryDeadline(string text, DateTimeOffset now, out DateTimeOffset deadline)
    {
        if (Durations.TryParse(text, out var fromNow))
        {
            deadline = now + fromNow;
            return true;
        }

        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out deadline);
    }

    /// <summary>
    /// The submission of a form that <see cref="Parse"/> accepted: the command runs with <c>/bin/sh -c</c>;
    /// a deadline given as a duration counts from <paramref name="now"/>.
    /// </summary>
    public static JobSubmission ToSubmission(JobForm form, DateTimeOffset now = default)
    {
        ArgumentNullException.ThrowIfNull(form);
        double? maxRuntime = form.MaxRuntime.Trim().Length > 0 && Durations.TryParse(form.MaxRuntime.Trim(), out var max) ? max.TotalSeconds : null;
        var image = form.Image.Trim();
        var command = form.Command.Trim();
        return new JobSubmission
        {
            Name = form.Name.Trim().Length == 0 ? null : form.Name.Trim(),

            // In a container the command runs with the image's /bin/sh -c; without one, the image's own command.
            Command = image.Length > 0 && command.Length == 0 ? [] : [command],
            Shell = command.Length > 0,
            Container = image.Length == 0 ? null : new ContainerSpec { Image = image, Runtime = form.Runtime.Trim() == "docker" ? ContainerRuntime.Docker : ContainerRuntime.Podman },
            Resources = new ResourceRequest { Gpus = Whole(form.Gpus) },
            Priority = Whole(form.Priority),
            MaxRuntimeSeconds = maxRuntime,
            Retries = Whole(form.Retries),
            Deadline = form.Deadline.Trim().Length > 0 && TryDeadline(form.Deadline.Trim(), now, out var deadline) ? deadline : null,
            ExpectedRuntimeSeconds = form.ExpectedRuntime.Trim().Length > 0 && Durations.TryParse(form.ExpectedRuntime.Trim(), out var expected) ? expected.TotalSeconds : null,
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
