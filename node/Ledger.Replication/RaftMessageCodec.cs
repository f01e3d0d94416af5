using Google.Protobuf;
using Ledger.Consensus;
using Ledger.Replication.Protos;

namespace Ledger.Replication;

/// <summary>Converts Raft messages between the core's records and the peer protocol's protobuf.</summary>
internal static class RaftMessageCodec
{
    /// <summary>The protobuf form. Entry data is wrapped, not copied: the core's log memory is immutable.</summary>
    public static RaftMessage ToProto(in Message message)
    {
        var proto = new RaftMessage
        {
            Kind = (uint)message.Kind,
            From = message.From,
            To = message.To,
            Term = message.Term,
            Index = message.Index,
            LogTerm = message.LogTerm,
            RejectHint = message.RejectHint,
            Commit = message.Commit,
            Context = message.Context,
            Reject = message.Reject,
            LeaderTransfer = message.LeaderTransfer,
        };
        foreach (ref readonly var entry in message.Entries.Span)
        {
            proto.Entries.Add(new RaftEntry
            {
                Term = entry.Term,
                Index = entry.Index,
                Kind = (uint)entry.Kind,
                Data = UnsafeByteOperations.UnsafeWrap(entry.Data),
            });
        }

        return proto;
    }

    /// <summary>The core's form, or false with a reason when a field is out of range.</summary>
    public static bool TryFromProto(RaftMessage proto, out Message message, out string error)
    {
        message = default;
        if (proto.Kind is < (uint)MessageKind.Append or > (uint)MessageKind.TimeoutNow)
        {
            error = $"unknown raft message kind {proto.Kind}";
            return false;
        }

        var entries = new Entry[proto.Entries.Count];
        for (var i = 0; i < entries.Length; i++)
        {
            var entry = proto.Entries[i];
            if (entry.Kind > (uint)EntryKind.MembershipChange || entry.Index != proto.Index + 1 + (ulong)i)
            {
                error = $"raft entry {i} has kind {entry.Kind} at index {entry.Index}; expected a known kind at {proto.Index + 1 + (ulong)i}";
                return false;
            }

            entries[i] = new Entry(entry.Term, entry.Index, (EntryKind)entry.Kind, entry.Data.Memory);
        }

        message = new Message
        {
            Kind = (MessageKind)proto.Kind,
            From = proto.From,
            To = proto.To,
            Term = proto.Term,
            Index = proto.Index,
            LogTerm = proto.LogTerm,
            RejectHint = proto.RejectHint,
            Commit = proto.Commit,
            Context = proto.Context,
            Reject = proto.Reject,
            LeaderTransfer = proto.LeaderTransfer,
            Entries = entries,
        };
        error = string.Empty;
        return true;
    }
}
