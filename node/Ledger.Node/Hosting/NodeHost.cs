using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace Ledger.Node.Hosting;

/// <summary>A problem the operator must fix before the node can start (bad option, unreadable key, ...).</summary>
internal sealed class NodeStartException(string message) : Exception(message);

/// <summary>A started node: the ASP.NET Core app, the node's parts and the address it listens on.</summary>
internal sealed class NodeHost : IAsyncDisposable
{
    private NodeHost(WebApplication app, LedgerNode node, string address)
    {
        App = app;
        Node = node;
        Address = address;
    }

    public WebApplication App { get; }

    public LedgerNode Node { get; }

    /// <summary>The bound address, e.g. <c>http://127.0.0.1:41234</c> when port 0 was asked for.</summary>
    public string Address { get; }

    /// <summary>Builds, replays the log, starts serving, and prints where everything is to <paramref name="output"/>.</summary>
    public static async Task<NodeHost> StartAsync(string[] args, TextWriter output)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        var (app, node) = NodeProgram.Build(args);
        var openedMs = started.ElapsedMilliseconds;
        try
        {
            node.Start();
            await node.WaitReadyAsync(CancellationToken.None);
            await app.StartAsync();
        }
        catch (Exception exception)
        {
            await app.DisposeAsync();
            if (exception is IOException { InnerException: AddressInUseException })
            {
                throw new NodeStartException(AddressInUse(node.Options));
            }

            throw;
        }

        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        await output.WriteAsync(LedgerNode.Describe(node.Files, address, address.StartsWith("http:", StringComparison.Ordinal)));
        await output.WriteAsync($"  ready in {started.ElapsedMilliseconds} ms (state opened in {openedMs} ms); tree size {node.State.TreeSize}\n");
        await output.FlushAsync();
        return new NodeHost(app, node, address);
    }

    /// <summary>What to tell the operator when another process holds an address the node listens on.</summary>
    private static string AddressInUse(NodeOptions options)
    {
        var addresses = options.MetricsListen is { } metrics
            ? $"{options.Listen} (--listen) or {metrics} (--metrics-listen)"
            : $"{options.Listen} (--listen)";
        return $"cannot listen on {addresses}: another node or program holds the address; stop it, or choose another with the option named";
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
    }
}

/// <summary>
/// Bounds the memory that request bodies can hold. grpc-dotnet buffers a unary request until the whole
/// message has arrived, so every open stream could hold up to the message limit: 300 unfinished 4 MiB
/// bodies on two connections grew a node by about 1 GiB. A request whose gRPC frame header announces more
/// than <see cref="SmallMessageBytes"/> must first take that many bytes from a node-wide budget; when the
/// budget is spent it is refused at once with RESOURCE_EXHAUSTED (retry later), before any of it is read.
/// A public call whose header announces more than <paramref name="messageBytesMax"/> is refused the same way
/// (grpc-dotnet would read it first and answer UNKNOWN past Kestrel's body limit, or for a 4 GiB header).
/// </summary>
internal sealed class RequestBodyBudget(long bytesMax, int messageBytesMax)
{
    /// <summary>Messages up to this size need no budget (an anchor of 1,000 digests is about 34 KiB).</summary>
    public const int SmallMessageBytes = 64 * 1024;

    /// <summary>The one client- or bidirectional-streaming call: its first message may wait for the answer's headers.</summary>
    private const string StreamingPath = "/ledger.peer.v1.Peer/Replicate";

    private const string PublicServicePath = "/ledger.v1.Ledger";
    private static readonly string UnknownStatus = ((int)Grpc.Core.StatusCode.Unknown).ToString(System.Globalization.CultureInfo.InvariantCulture);
    private const int FrameHeaderBytes = 5;
    private long _inUse;

    public long InUse => Interlocked.Read(ref _inUse);

    public bool TryTake(long bytes)
    {
        for (var attempt = 0; attempt < 1_000; attempt++)
        {
            var inUse = Interlocked.Read(ref _inUse);
            if (inUse + bytes > bytesMax)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _inUse, inUse + bytes, inUse) == inUse)
            {
                return true;
            }
        }

        return false;
    }

    public void Return(long bytes) => Interlocked.Add(ref _inUse, -bytes);

    /// <summary>The middleware: peeks at the frame header of gRPC requests and takes budget for large ones.</summary>
    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        if (!HttpMethods.IsPost(context.Request.Method)
            || context.Request.ContentType?.StartsWith("application/grpc", StringComparison.Ordinal) != true
            || context.Request.Path.Equals(StreamingPath, StringComparison.Ordinal))
        {
            await next(context);
            return;
        }

        try
        {
            await InvokeGrpcAsync(context, next);
        }
        finally
        {
            RefuseUnparsedBody(context);
        }
    }

    /// <summary>
    /// grpc-dotnet answers UNKNOWN ("Exception was thrown by handler.") when the request body is not a message
    /// of the method's type: it deserializes before any service code runs. <see cref="DeserializedMarker"/>
    /// marks the calls whose request was deserialized; an UNKNOWN answer to any other is INVALID_ARGUMENT.
    /// </summary>
    private static void RefuseUnparsedBody(HttpContext context)
    {
        if (!context.Response.HasStarted && !context.Items.ContainsKey(DeserializedMarker.Key)
            && context.Response.Headers["grpc-status"] == UnknownStatus)
        {
            context.Response.Headers["grpc-status"] = ((int)Grpc.Core.StatusCode.InvalidArgument).ToString(System.Globalization.CultureInfo.InvariantCulture);
            context.Response.Headers["grpc-message"] = Uri.EscapeDataString(
                $"the request body is not a protobuf message of the request type of {context.Request.Path}");
        }
    }

    private async Task InvokeGrpcAsync(HttpContext context, RequestDelegate next)
    {

        var declared = await PeekMessageLengthAsync(context.Request.BodyReader, context.RequestAborted);
        if (declared <= SmallMessageBytes)
        {
            await next(context);
            return;
        }

        if (declared > messageBytesMax && context.Request.Path.StartsWithSegments(PublicServicePath, StringComparison.Ordinal))
        {
            Refuse(context, $"the message announces {declared} bytes, more than this node's maximum of {messageBytesMax}");
            return;
        }

        if (!TryTake(declared))
        {
            Refuse(context, $"the node is receiving too many large requests ({declared} bytes announced): retry later");
            return;
        }

        try
        {
            await next(context);
        }
        finally
        {
            Return(declared);
        }
    }

    /// <summary>A trailers-only gRPC answer: RESOURCE_EXHAUSTED with <paramref name="message"/>.</summary>
    private static void Refuse(HttpContext context, string message)
    {
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "application/grpc";
        context.Response.Headers["grpc-status"] = ((int)Grpc.Core.StatusCode.ResourceExhausted).ToString(System.Globalization.CultureInfo.InvariantCulture);
        context.Response.Headers["grpc-message"] = Uri.EscapeDataString(message);
    }

    /// <summary>The length the first gRPC frame header announces (0 when the body ends before one), leaving the body unread.</summary>
    private static async Task<long> PeekMessageLengthAsync(System.IO.Pipelines.PipeReader reader, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < FrameHeaderBytes + 1; attempt++)
        {
            var read = await reader.ReadAsync(cancellationToken);
            var buffer = read.Buffer;
            if (buffer.Length >= FrameHeaderBytes)
            {
                Span<byte> header = stackalloc byte[FrameHeaderBytes];
                System.Buffers.BuffersExtensions.CopyTo(buffer.Slice(0, FrameHeaderBytes), header);
                reader.AdvanceTo(buffer.Start);
                return System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(header[1..]);
            }

            if (read.IsCompleted || read.IsCanceled)
            {
                reader.AdvanceTo(buffer.Start);
                return 0;
            }

            reader.AdvanceTo(buffer.Start, buffer.End);
        }

        return 0;
    }
}

/// <summary>Marks a call whose request message was deserialized (interceptors run after that, before the service).</summary>
internal sealed class DeserializedMarker : Grpc.Core.Interceptors.Interceptor
{
    public const string Key = "ledger.request-deserialized";

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, Grpc.Core.ServerCallContext context, Grpc.Core.UnaryServerMethod<TRequest, TResponse> continuation)
    {
        Mark(context);
        return continuation(request, context);
    }

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, Grpc.Core.IServerStreamWriter<TResponse> responseStream, Grpc.Core.ServerCallContext context, Grpc.Core.ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Mark(context);
        return continuation(request, responseStream, context);
    }

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(
        Grpc.Core.IAsyncStreamReader<TRequest> requestStream, Grpc.Core.ServerCallContext context, Grpc.Core.ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Mark(context);
        return continuation(requestStream, context);
    }

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(
        Grpc.Core.IAsyncStreamReader<TRequest> requestStream, Grpc.Core.IServerStreamWriter<TResponse> responseStream, Grpc.Core.ServerCallContext context, Grpc.Core.DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Mark(context);
        return continuation(requestStream, responseStream, context);
    }

    private static void Mark(Grpc.Core.ServerCallContext context) => Grpc.Core.ServerCallContextExtensions.GetHttpContext(context).Items[Key] = true;
}
