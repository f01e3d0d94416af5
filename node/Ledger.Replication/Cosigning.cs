using Grpc.Core;
using Grpc.Net.Client;
using Ledger.Replication.Protos;
using Ledger.Sdk;

namespace Ledger.Replication;

/// <summary>
/// The node's side of cosigning: signs a checkpoint only of its own applied tree (same size, same
/// root), so that no member ever signs two inconsistent checkpoints, and only when its own rules
/// allow (the node checks leaf timestamps against its clock).
/// </summary>
internal interface ICheckpointCosigner
{
    /// <summary>The member's signature on <paramref name="checkpoint"/>, or why it refuses (Signature null).</summary>
    Task<CosignOutcome> CosignAsync(Checkpoint checkpoint, CancellationToken cancellationToken);
}

/// <summary>A cosigner's answer: a signature, or a refusal a person can read.</summary>
internal sealed record CosignOutcome(NoteSignature? Signature, string Refusal)
{
    public static CosignOutcome Signed(NoteSignature signature) => new(signature, string.Empty);

    public static CosignOutcome Refused(string refusal) => new(null, refusal);
}

/// <summary>
/// Gathers other members' signatures on a checkpoint this member signed, over the peer protocol,
/// and keeps only signatures that verify with each member's pinned key. <paramref name="hedgeDelay"/>:
/// how long a collection waits for the members it asked before it asks one more (see
/// <see cref="HedgeDelay"/>).
/// </summary>
internal sealed class CosignatureCollector(PeerContext peers, TimeSpan hedgeDelay) : IDisposable
{
    public CosignatureCollector(PeerContext peers)
        : this(peers, HedgeDelay)
    {
    }

    /// <summary>How long one member may take to answer.</summary>
    public static readonly TimeSpan CallDeadline = TimeSpan.FromSeconds(2);

    private readonly ChannelCache _channels = new();
    private int _collections;

    /// <summary>
    /// Asks every other member with an address to cosign <paramref name="note"/>'s body and returns the
    /// note with every valid signature added. Members that refuse or fail are reported in <c>refusals</c>.
    /// </summary>
    public Task<(SignedNote Note, IReadOnlyList<string> Refusals)> CollectAsync(SignedNote note, CancellationToken cancellationToken) =>
        CollectAsync(note, int.MaxValue, cancellationToken);

    /// <summary>
    /// As <see cref="CollectAsync(SignedNote, CancellationToken)"/>, but returns as soon as the note
    /// carries <paramref name="signaturesWanted"/> signatures, and asks only as many members as it
    /// still needs: each signature asked costs the member answering a signature and both ends a
    /// handshake, and asking every member at every checkpoint spent that on answers dropped. Another
    /// member is asked at once when one refuses or fails, and when none has answered within
    /// <see cref="HedgeDelay"/>, so that a slow or paused member holds a checkpoint up by that much at
    /// most. Collections start at a different member each time, which spreads the work. Calls still
    /// running at the end are left to end within their deadline and their answers dropped: cancelling
    /// them would make every such member log a reset request as a failed call.
    /// </summary>
    public async Task<(SignedNote Note, IReadOnlyList<string> Refusals)> CollectAsync(SignedNote note, int signaturesWanted, CancellationToken cancellationToken)
    {
        var others = peers.Consortium.Members.Where(m => m.Id != peers.MemberKey.Name && peers.AddressOf(m.Id) is not null).ToList();
        var start = others.Count == 0 ? 0 : (int)((uint)Interlocked.Increment(ref _collections) % (uint)others.Count);
        var waiting = new Queue<ConsortiumMember>(others.Skip(start).Concat(others.Take(start)));
        var asking = new List<Task<(ConsortiumMember Member, NoteSignature? Signature, string Refusal)>>();
        var refusals = new List<string>();

        void AskMore()
        {
            while (waiting.Count > 0 && note.Signatures.Count + asking.Count < signaturesWanted)
            {
                asking.Add(AskAsync(waiting.Dequeue(), note.Body, cancellationToken));
            }
        }

        AskMore();
        using var hedging = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        while (asking.Count > 0 && note.Signatures.Count < signaturesWanted)
        {
            // Once the node is stopping, the calls end at once: no more hedging, just their answers.
            var hedge = waiting.Count > 0 && !cancellationToken.IsCancellationRequested ? Task.Delay(hedgeDelay, hedging.Token) : null;
            var done = await Task.WhenAny(hedge is null ? asking : asking.Append(hedge));
            if (done == hedge)
            {
                if (!cancellationToken.IsCancellationRequested)
                {
                    asking.Add(AskAsync(waiting.Dequeue(), note.Body, cancellationToken));
                }

                continue;
            }

            var answered = (Task<(ConsortiumMember Member, NoteSignature? Signature, string Refusal)>)done;
            asking.Remove(answered);
            var (member, signature, refusal) = await answered;
            if (signature is null)
            {
                refusals.Add($"{member.Id}: {refusal}");
            }
            else
            {
                note = note.WithSignature(signature);
            }

            AskMore();
        }

        await hedging.CancelAsync();
        return (note, refusals);
    }

    /// <summary>How long a collection waits for the members it asked before it asks one more, unless the constructor says otherwise.</summary>
    public static readonly TimeSpan HedgeDelay = TimeSpan.FromMilliseconds(100);

    public void Dispose() => _channels.Dispose();

    private async Task<(ConsortiumMember Member, NoteSignature? Signature, string Refusal)> AskAsync(
        ConsortiumMember member, string body, CancellationToken cancellationToken)
    {
        try
        {
            var client = new Peer.PeerClient(Channel(member));
            var (headers, nonce) = peers.CallHeaders(member.Id);
            using var call = client.CosignAsync(new CosignRequest { CheckpointBody = body }, headers, DateTime.UtcNow + CallDeadline, cancellationToken);
            if (!peers.AnsweredAs(await call.ResponseHeadersAsync, nonce, member.Id, out var error))
            {
                return (member, null, "failed the handshake: " + error);
            }

            var response = await call.ResponseAsync;
            return response.SignatureLine.Length == 0
                ? (member, null, response.Refusal)
                : Check(member, body, response.SignatureLine);
        }
        catch (RpcException e)
        {
            return (member, null, $"{e.StatusCode}: {e.Status.Detail}");
        }
        catch (OperationCanceledException)
        {
            return (member, null, "not asked further: the node is stopping");
        }
    }

    private static (ConsortiumMember, NoteSignature?, string) Check(ConsortiumMember member, string body, string line)
    {
        if (!SignedNote.TryParse(body + "\n" + line + "\n", 1, out var parsed, out var error))
        {
            return (member, null, "answered a malformed signature line: " + error);
        }

        var signature = parsed!.Signatures[0];
        if (signature.Name != member.Id || signature.KeyId != member.Key.Id
            || !member.Key.Verify(System.Text.Encoding.UTF8.GetBytes(body), signature.Signature))
        {
            return (member, null, "answered a signature that does not verify with its key");
        }

        return (member, signature, string.Empty);
    }

    private GrpcChannel Channel(ConsortiumMember member) =>
        _channels.For(peers.AddressOf(member.Id) ?? throw new RpcException(new Status(StatusCode.Unavailable, $"no address known for {member.Id}")));
}
