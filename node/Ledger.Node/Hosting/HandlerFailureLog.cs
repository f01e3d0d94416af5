using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Ledger.Node.Hosting;

/// <summary>
/// Logs a failure inside one of the node's own call handlers (event 4), once per call. gRPC's server
/// logs every failed call itself, bodies that are not messages and reset streams included, with a
/// stack trace at error level: a flood of bad requests would flood the log. Its handler log is
/// therefore off (NodeProgram), and this interceptor, which runs only once a request was decoded,
/// reports what is the node's own fault. A status the handler chose, a cancelled call and a stream
/// the other side broke are not. A read that met damaged data answers DATA_LOSS (the damage itself is
/// reported once, by <see cref="StoreDamage"/>, and the node stops; another member can answer).
/// </summary>
internal sealed partial class HandlerFailureLog(ILogger<HandlerFailureLog> logger) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context);
        }
        catch (Ledger.Storage.StorageCorruptException)
        {
            throw DataLoss();
        }
        catch (Exception exception) when (IsOwnFailure(exception, context))
        {
            LogHandlerFailed(context.Method, exception);
            throw;
        }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(request, responseStream, context);
        }
        catch (Ledger.Storage.StorageCorruptException)
        {
            throw DataLoss();
        }
        catch (Exception exception) when (IsOwnFailure(exception, context))
        {
            LogHandlerFailed(context.Method, exception);
            throw;
        }
    }

    public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(requestStream, responseStream, context);
        }
        catch (Ledger.Storage.StorageCorruptException)
        {
            throw DataLoss();
        }
        catch (Exception exception) when (IsOwnFailure(exception, context))
        {
            LogHandlerFailed(context.Method, exception);
            throw;
        }
    }

    /// <summary>The answer to a call that met damaged data.</summary>
    public static RpcException DataLoss() => new(new Status(StatusCode.DataLoss,
        "this member found its stored data damaged and is stopping to rebuild it; ask another member"));

    private static bool IsOwnFailure(Exception exception, ServerCallContext context) =>
        exception is not (RpcException or OperationCanceledException or IOException)
        && !context.CancellationToken.IsCancellationRequested;

    [LoggerMessage(EventId = 4, Level = LogLevel.Error, Message = "call {Method} failed inside the node")]
    private partial void LogHandlerFailed(string method, Exception exception);
}
