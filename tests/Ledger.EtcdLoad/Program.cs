namespace Ledger.EtcdLoad;

internal static class Program
{
    public static int Main() => 0;
}
