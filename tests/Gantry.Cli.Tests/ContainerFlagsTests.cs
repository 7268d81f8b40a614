using Gantry.Cli.Jobs;
using Gantry.Core.Protocol;

namespace Gantry.Cli.Tests;

/// <summary><c>gantry jobs submit --image … [--runtime] [--port]… [--volume]… -- ARGS</c> (docs/containers-jobs.md).</summary>
public sealed class ContainerFlagsTests
{
    private static JobSubmission Build(params string[] args)
    {
        var flags = new SubmitOptions();
        var context = new CliContext(TextWriter.Null, TextWriter.Null, _ => null, TimeProvider.System);
        var command = JobsCommand.CreateSubmit(context, new ClientOptions(), flags);
        var parseResult = command.Parse(args);
        Assert.Empty(parseResult.Errors);
        return flags.Build(parseResult);
    }

    [Fact]
    public void Build_EveryContainerFlag_MapsToTheSpec()
    {
        var submission = Build(
            "--image", "docker.io/vllm/vllm-openai:v0.6.3", "--runtime", "docker", "--port", "8000", "--port", "18001:8001",
            "--volume", "/data:/data", "--volume", "/models:/models:ro", "--gpus", "2", "--", "--model", "m");

        var container = submission.Container!;
        Assert.Equal("docker.io/vllm/vllm-openai:v0.6.3", container.Image);
        Assert.Equal(ContainerRuntime.Docker, container.Runtime);
        Assert.Equal([(8000, (int?)null), (8001, 18001)], container.Ports.Select(p => (p.ContainerPort, p.HostPort)));
        Assert.Equal([("/data", "/data", false), ("/models", "/models", true)], container.Volumes.Select(v => (v.HostPath, v.ContainerPath, v.ReadOnly)));
        Assert.Equal(["--model", "m"], submission.Command);
    }

    [Fact]
    public void Build_ImageWithoutArguments_RunsTheImagesCommandWithPodman()
    {
        var submission = Build("--image", "localhost/app:1");

        Assert.Empty(submission.Command);
        Assert.Equal(ContainerRuntime.Podman, submission.Container!.Runtime);
        Assert.Empty(submission.Container.Ports);
        Assert.Null(Build("--", "true").Container);
    }

    [Theory]
    [InlineData("--runtime", new[] { "--runtime", "docker", "--", "x" }, "give --image IMAGE too")]
    [InlineData("--port", new[] { "--port", "80", "--", "x" }, "give --image IMAGE too")]
    [InlineData("--runtime", new[] { "--image", "a", "--runtime", "lxc" }, "expected podman or docker")]
    [InlineData("--image", new[] { "--image", "", "--", "x" }, "must name an image")]
    [InlineData("--image", new[] { "--image", "a b" }, "not an image reference")]
    [InlineData("--port", new[] { "--image", "a", "--port", "0" }, "ports 1-65535")]
    [InlineData("--port", new[] { "--image", "a", "--port", "80:70000" }, "ports 1-65535")]
    [InlineData("--port", new[] { "--image", "a", "--port", "x:80" }, "ports 1-65535")]
    [InlineData("--port", new[] { "--image", "a", "--port", "8000", "--port", "8000:9000" }, "host port 8000 is published twice")]
    [InlineData("--volume", new[] { "--image", "a", "--volume", "/data" }, "HOST:CONTAINER")]
    [InlineData("--volume", new[] { "--image", "a", "--volume", "data:/data" }, "must be absolute")]
    [InlineData("--volume", new[] { "--image", "a", "--volume", "/a:/b:rx" }, "HOST:CONTAINER")]
    [InlineData("COMMAND", new[] { "--image", "a", "--shell" }, "give the command")]
    public void Build_BadContainerFlag_NamesIt(string flag, string[] args, string message)
    {
        var error = Assert.Throws<UsageException>(() => Build(args));

        Assert.Equal(flag, error.Setting);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Submit_BadPort_ExitsWithUsageErrorAndSendsNothing()
    {
        var result = await new CliHarness().RunAsync("jobs", "submit", "--server", "http://127.0.0.1:1", "--image", "a", "--port", "99999");

        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith("gantry jobs submit: --port: ", result.Error, StringComparison.Ordinal);
        Assert.Equal("", result.Output);
    }

    [Fact]
    public void Describe_ContainerForJobsShow()
    {
        var container = new ContainerSpec
        {
            Image = "localhost/a:1",
            Ports = [new PortMapping { ContainerPort = 8000 }, new PortMapping { ContainerPort = 8001, HostPort = 18001 }],
            Volumes = [new VolumeMount { HostPath = "/m", ContainerPath = "/models", ReadOnly = true }],
        };

        Assert.Equal("podman localhost/a:1", ContainerFlags.Describe(container));
        Assert.Equal("8000, 18001:8001", ContainerFlags.DescribePorts(container));
        Assert.Equal("/m:/models:ro", ContainerFlags.DescribeVolumes(container));
        Assert.Null(ContainerFlags.DescribePorts(container with { Ports = [] }));
    }
}
