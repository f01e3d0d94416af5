using Google.Protobuf;
using Grpc.Core;
using Ledger.Node.Admission;
using Ledger.Node.Checkpoints;
using Ledger.Node.Hosting;
using Ledger.Node.Sequencing;
using Ledger.Node.State;
using Ledger.Replication;
using Ledger.Sdk;
using Ledger.Sdk.Client;
using Ledger.Sdk.Protos.V1;

namespace Ledger.Node.Api;

/// <summary>The public <c>ledger.v1.Ledger</c> service: thin translation between gRPC and the node's parts.</summary>
internal sealed class LedgerApiService : Sdk.Protos.V1.Ledger.LedgerBase
{
    private const ulong EntriesPerCallMax = 1_000;
    private const int ReceiptCheckpointWaitMs = 2_000;
    private readonly LedgerNode _node;

    private readonly IHostApplicationLifetime _lifetime;

    public LedgerApiService(LedgerNode node, IHostApplicationLifetime lifetime)
    {
        _node = node;
        _lifetime = lifetime;
    }

    /// <summary>Header marking an anchor a member forwarded to the leader; such a call is never forwarded again.</summary>
    public const string ForwardedHeader = "ledger-forwarded-by";

    public override async Task<AnchorResponse> Anchor(AnchorRequest request, ServerCallContext context)
    {
        if (_node.Replica is { IsLeader: false })
        {
            return await ForwardAsync(request, context);
        }

        var admission = _node.Admission.Admit(request);
        if (admission.Entry is null)
        {
            _node.Metrics?.Refused(admission.Code.ToString());
            throw new RpcException(new Status(admission.Code, admission.Message));
        }

        var pending = new PendingAnchor(admission.Entry);
        if (!_node.Batcher.TryEnqueue(pending))
        {
            _node.Metrics?.Refused("QueueFull");
            _node.Admission.Release(admission.Entry);
            throw new RpcException(new Status(
                StatusCode.ResourceExhausted,
                $"the node's queue is full ({_node.Options.QueueDigestsMax} digests waiting): retry in a moment with a fresh nonce"));
        }

        EntryOutcome outcome;
        try
        {
            outcome = await pending.Completion.Task.WaitAsync(_node.Stopping);
        }
        catch (OperationCanceledException)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, "the node is stopping; retry with a fresh nonce (a digest already anchored keeps its leaf)"));
        }
        catch (Exception exception)
        {
            // The batch was not applied here: it never committed, or a later leader may still commit it.
            // Either way a retry is safe (a digest the issuer anchored keeps its leaf), so the nonce is freed.
            _node.Admission.Release(admission.Entry);
            throw new RpcException(new Status(StatusCode.Unavailable, exception is NotLeaderException or ProposalLostException
                ? $"leadership moved while the batch was in flight ({exception.Message}): retry with a fresh nonce; nothing was anchored twice"
                : $"the batch could not be made durable: {exception.Message}"));
        }

        var response = new AnchorResponse { TreeSize = outcome.TreeSize };
        response.LeafIndices.Add(outcome.LeafIndices);
        response.Existed.Add(outcome.Existed);
        await AddReceiptsAsync(request, response, context);
        if (context.RequestHeaders.GetValue(ForwardedHeader) is null)
        {
            // A forwarded request is counted by the member that answers its client.
            _node.Metrics?.Anchored(request.Digests.Count);
        }

        return response;
    }

    /// <summary>
    /// A follower's anchor: sent on to the leader with the caller's deadline; answered once this
    /// member has applied the batch too, so receipts asked from it right after cover the digests.
    /// </summary>
    private async Task<AnchorResponse> ForwardAsync(AnchorRequest request, ServerCallContext context)
    {
        var replica = _node.Replica!;
        if (context.RequestHeaders.GetValue(ForwardedHeader) is { } forwarder)
        {
            throw new RpcException(new Status(StatusCode.Unavailable,
                $"member {_node.MemberKey.Name} is not the leader (the request came forwarded by {forwarder}); retry in a moment"));
        }

        var leader = replica.LeaderName;
        var client = leader is null ? null : replica.Members.For(leader);
        if (client is null)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, "no leader is known right now (an election is running): retry in a moment"));
        }

        var forwarded = request.Clone();
        forwarded.IncludeReceipts = false;
        var headers = new Metadata { { ForwardedHeader, _node.MemberKey.Name } };
        AnchorResponse response;
        try
        {
            response = await client.AnchorAsync(forwarded, headers, context.Deadline == DateTime.MaxValue ? null : context.Deadline, context.CancellationToken);
        }
        catch (RpcException exception) when (exception.StatusCode is StatusCode.Unavailable or StatusCode.Internal)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, $"forwarding to the leader {leader} failed ({exception.Status.Detail}): retry in a moment"));
        }

        await _node.WaitForTreeSizeAsync(response.TreeSize, context.CancellationToken);
        await AddReceiptsAsync(request, response, context);
        _node.Metrics?.Anchored(request.Digests.Count);
        if (replica.Peers.AddressOf(leader!) is { } leaderAddress)
        {
            // A client that knows this address too sends its next anchors there (LedgerClient.LeaderAddressHeader).
            await context.WriteResponseHeadersAsync(new Metadata { { LedgerClient.LeaderAddressHeader, leaderAddress } });
        }

        return response;
    }

    private async Task AddReceiptsAsync(AnchorRequest request, AnchorResponse response, ServerCallContext context)
    {
        if (!request.IncludeReceipts)
        {
            return;
        }

        var checkpoint = await _node.Signer.WaitForSizeAsync(response.TreeSize, context.CancellationToken);
        foreach (var index in response.LeafIndices)
        {
            response.Receipts.Add(_node.State.BuildReceipt(index, checkpoint));
        }
    }

    /// <summary>Digests one <c>GetReceipts</c> call may ask for.</summary>
    public const int ReceiptsPerRequestMax = 1_000;

    public override async Task<GetReceiptResponse> GetReceipt(GetReceiptRequest request, ServerCallContext context)
    {
        CheckDigestLength(request.Digest, 0);
        await CatchUpIfAskedAsync(request.Linearizable, context);
        var issuer = request.Issuer.Length == 0 ? null : request.Issuer;
        if (!_node.State.TryFindLeaf(request.Digest.Span, issuer, out var index))
        {
            var whose = issuer is null ? "" : $" by issuer '{issuer}'";
            throw new RpcException(new Status(StatusCode.NotFound, $"digest {Convert.ToHexStringLower(request.Digest.Span)} is not anchored{whose} on this ledger"));
        }

        var checkpoint = await CheckpointCoveringAsync(index, context);
        return new GetReceiptResponse { Receipt = _node.State.BuildReceipt(index, checkpoint), LeafIndex = index };
    }

    public override async Task<GetReceiptsResponse> GetReceipts(GetReceiptsRequest request, ServerCallContext context)
    {
        if (request.Digests.Count is 0 or > ReceiptsPerRequestMax)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument,
                $"ask for 1 to {ReceiptsPerRequestMax} receipts per call, not {request.Digests.Count}: split the request"));
        }

        await CatchUpIfAskedAsync(request.Linearizable, context);
        var issuer = request.Issuer.Length == 0 ? null : request.Issuer;
        var indices = new ulong?[request.Digests.Count];
        ulong highest = 0;
        for (var i = 0; i < indices.Length; i++)
        {
            CheckDigestLength(request.Digests[i], i);
            if (_node.State.TryFindLeaf(request.Digests[i].Span, issuer, out var index))
            {
                indices[i] = index;
                highest = Math.Max(highest, index);
            }
        }

        var response = new GetReceiptsResponse();
        var checkpoint = indices.Any(i => i.HasValue) ? await CheckpointCoveringAsync(highest, context) : null;
        foreach (var index in indices)
        {
            response.Results.Add(index is { } found
                ? new ReceiptResult { Found = true, LeafIndex = found, Receipt = _node.State.BuildReceipt(found, checkpoint!) }
                : new ReceiptResult());
        }

        return response;
    }

    /// <summary>For a linearizable read: waits until this member applied what the leader had committed when the call arrived.</summary>
    private async Task CatchUpIfAskedAsync(bool linearizable, ServerCallContext context)
    {
        if (!linearizable || _node.Replica is not { } replica)
        {
            return;
        }

        ulong index;
        try
        {
            index = await replica.Reads.ReadIndexAsync(context.CancellationToken);
        }
        catch (Exception exception) when (exception is NotLeaderException or ProposalRefusedException or RpcException)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, $"a linearizable read needs the leader's confirmation, which failed: {exception.Message}; retry in a moment"));
        }

        await _node.WaitForAppliedIndexAsync(index, context.CancellationToken);
    }

    private static void CheckDigestLength(ByteString digest, int position)
    {
        if (digest.Length != Leaf.DigestLength)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument,
                $"digest {position} has {digest.Length} bytes: send the 32-byte SHA-256 of the credential"));
        }
    }

    /// <summary>The latest checkpoint, or (briefly waiting for it) one that covers leaf <paramref name="index"/>.</summary>
    private async Task<SignedCheckpointText> CheckpointCoveringAsync(ulong index, ServerCallContext context)
    {
        var checkpoint = _node.Signer.Latest;
        if (checkpoint.TreeSize > index)
        {
            return checkpoint;
        }

        using var wait = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken);
        wait.CancelAfter(ReceiptCheckpointWaitMs);
        try
        {
            return await _node.Signer.WaitForSizeAsync(index + 1, wait.Token);
        }
        catch (OperationCanceledException) when (!context.CancellationToken.IsCancellationRequested)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, $"leaf {index} is not yet covered by a signed checkpoint; retry in a moment"));
        }
    }

    public override Task<GetCheckpointResponse> GetCheckpoint(GetCheckpointRequest request, ServerCallContext context)
    {
        var latest = _node.Signer.Latest;
        if (latest.Text.Length == 0)
        {
            throw new RpcException(new Status(StatusCode.Unavailable,
                $"no checkpoint signed by a quorum of {_node.Consortium.Quorum} members yet (this member is starting, or too few members answer it): retry in a moment, or ask another member"));
        }

        return Task.FromResult(new GetCheckpointResponse { Checkpoint = latest.Text, TreeSize = latest.TreeSize });
    }

    public override Task<GetConsistencyProofResponse> GetConsistencyProof(GetConsistencyProofRequest request, ServerCallContext context)
    {
        var size = _node.State.TreeSize;
        if (request.OldSize == 0 || request.OldSize > request.NewSize || request.NewSize > size)
        {
            throw new RpcException(new Status(
                StatusCode.InvalidArgument,
                $"a consistency proof needs 0 < old_size <= new_size <= {size} (the tree size); got {request.OldSize} and {request.NewSize}"));
        }

        var response = new GetConsistencyProofResponse();
        foreach (var hash in _node.State.ConsistencyProof(request.OldSize, request.NewSize))
        {
            response.Proof.Add(ByteString.CopyFrom(hash));
        }

        return Task.FromResult(response);
    }

    public override Task<GetEntriesResponse> GetEntries(GetEntriesRequest request, ServerCallContext context)
    {
        var size = _node.State.TreeSize;
        if (request.Count == 0 || request.Count > EntriesPerCallMax || request.Start >= size)
        {
            throw new RpcException(new Status(
                StatusCode.InvalidArgument,
                $"entries: need 1 <= count <= {EntriesPerCallMax} and start < {size} (the tree size); got start {request.Start}, count {request.Count}"));
        }

        var end = Math.Min(size, request.Start + request.Count);
        var response = new GetEntriesResponse();
        for (var index = request.Start; index < end; index++)
        {
            response.Leaves.Add(ByteString.CopyFrom(_node.State.LeafBytes(index)));
        }

        return Task.FromResult(response);
    }

    public override Task<GetStatusResponse> GetStatus(GetStatusRequest request, ServerCallContext context) =>
        _node.StatusAsync(request.LocalOnly, context.CancellationToken);

    public override async Task WatchCheckpoints(WatchCheckpointsRequest request, IServerStreamWriter<CheckpointEvent> responseStream, ServerCallContext context)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, _node.Stopping, _lifetime.ApplicationStopping);
        SignedCheckpointText sent;
        try
        {
            // The stream starts with the latest checkpoint, once there is one.
            sent = await _node.Signer.WaitForSizeAsync(0, stop.Token);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        await responseStream.WriteAsync(new CheckpointEvent { Checkpoint = sent.Text, TreeSize = sent.TreeSize }, stop.Token);
        while (!stop.IsCancellationRequested)
        {
            SignedCheckpointText next;
            try
            {
                next = await _node.Signer.WaitForNewerAsync(sent.TreeSize, stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            await responseStream.WriteAsync(new CheckpointEvent { Checkpoint = next.Text, TreeSize = next.TreeSize }, stop.Token);
            sent = next;
        }
    }
}
