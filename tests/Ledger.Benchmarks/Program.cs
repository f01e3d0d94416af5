using BenchmarkDotNet.Running;

// Run all benchmarks:       dotnet run -c Release --project tests/Ledger.Benchmarks -- --filter '*'
// Run one class:            dotnet run -c Release --project tests/Ledger.Benchmarks -- --filter '*TreeAppend*'
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);

internal sealed partial class Program;
