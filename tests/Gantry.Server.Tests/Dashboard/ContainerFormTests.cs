using Gantry.Core.Protocol;
using Gantry.Server.Dashboard.Views;

namespace Gantry.Server.Tests.Dashboard;

/// <summary>The dashboard's submit form: the image and runtime of a container job (docs/containers-jobs.md).</summary>
public sealed class ContainerFormTests
{
    [Fact]
    public void ToSubmission_ImageAndCommand_ShellInTheContainer()
    {
        var form = new JobForm { Command = "python train.py", Image = " localhost/trainer:1 ", Runtime = "docker" };

        Assert.Null(JobSubmit.Parse(form));
        var submission = JobSubmit.ToSubmission(form);

        Assert.Equal("localhost/trainer:1", submission.Container!.Image);
        Assert.Equal(ContainerRuntime.Docker, submission.Container.Runtime);
        Assert.Equal(["python train.py"], submission.Command);
        Assert.True(submission.Shell);
    }

    [Fact]
    public void ToSubmission_ImageWithoutCommand_TheImagesOwnCommand()
    {
        var form = new JobForm { Image = "localhost/app:1" };

        Assert.Null(JobSubmit.Parse(form));
        var submission = JobSubmit.ToSubmission(form);

        Assert.Empty(submission.Command);
        Assert.False(submission.Shell);
        Assert.Equal(ContainerRuntime.Podman, submission.Container!.Runtime);
        Assert.Null(Gantry.Server.Api.Validation.Check(submission));
        Assert.Null(JobSubmit.ToSubmission(new JobForm { Command = "true" }).Container);
    }

    [Fact]
    public void Parse_NoCommandNoImage_OrBadRuntime_NamesTheField()
    {
        Assert.Equal("command", JobSubmit.Parse(new JobForm())?.ErrorField);
        Assert.Equal("runtime", JobSubmit.Parse(new JobForm { Image = "a", Runtime = "lxc" })?.ErrorField);
    }

    [Fact]
    public void Refused_BadImage_NamesTheImageField()
    {
        var refused = JobSubmit.Refused(new JobForm { Image = "a b" }, new Dictionary<string, string[]> { ["container.image"] = ["must be an image reference"] });

        Assert.Equal("image", refused.ErrorField);
        Assert.StartsWith("Image: must be an image reference", refused.Error, StringComparison.Ordinal);
    }
}
