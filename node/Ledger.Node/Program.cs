using Ledger.Node.Hosting;

return await NodeProgram.RunAsync(args);
