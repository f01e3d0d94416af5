namespace Ledger.Consensus;
