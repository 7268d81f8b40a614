using Gantry.Commands;

return await GantryCli.RunAsync(args).ConfigureAwait(false);
