namespace Ledger.Storage;
