namespace Ledger.TestKit;
