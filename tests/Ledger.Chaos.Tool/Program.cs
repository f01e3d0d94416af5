Console.Error.WriteLine("usage: Ledger.Chaos.Tool workload|check ...");
return 2;
