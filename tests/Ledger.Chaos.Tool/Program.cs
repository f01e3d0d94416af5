using Ledger.Chaos.Tool;

if (args.Length == 0)
{
    return Usage();
}

try
{
    var rest = Arguments.Parse(args[1..]);
    return args[0] switch
    {
        "workload" => await Workload.RunAsync(rest),
        "check" => await CheckCommand.RunAsync(rest),
        _ => Usage(),
    };
}
catch (ArgumentException exception)
{
    Console.Error.WriteLine(exception.Message);
    return Usage();
}

static int Usage()
{
    Console.Error.WriteLine(
        """
        usage:
          Ledger.Chaos.Tool workload --nodes URL,URL... --issuer-key FILE [--issuer-key FILE ...] --seconds S
                                     --history FILE --checkpoints FILE [--seed N] [--loops-per-issuer L]
          Ledger.Chaos.Tool check --nodes URL,URL... --consortium FILE --history FILE --checkpoints FILE
                                  [--faults FILE] [--summary FILE] [--converge-seconds S]
        """);
    return 2;
}
