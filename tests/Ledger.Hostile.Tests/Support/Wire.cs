using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using Grpc.Core;
using Grpc.Net.Client;

namespace Ledger.Hostile.Tests.Support;

/// <summary>The end of one hand-made gRPC call: its status, or that the connection or stream was torn down.</summary>
internal sealed record CallEnd(StatusCode? Status, string Detail, bool Reset)
{
    public override string ToString() => Reset ? "stream or connection reset: " + Detail : $"{Status}: {Detail}";
}

/// <summary>Hand-made calls: any bytes as a gRPC message, any bytes as a gRPC body, any bytes on a TCP socket.</summary>
internal static class Wire
{
    public static readonly TimeSpan CallDeadline = TimeSpan.FromSeconds(5);

    private static readonly Marshaller<byte[]> Bytes = Marshallers.Create(bytes => bytes, bytes => bytes);

    /// <summary>Sends <paramref name="body"/> as the (only) request message of <paramref name="service"/>/<paramref name="method"/>.</summary>
    public static async Task<CallEnd> CallAsync(GrpcChannel channel, string service, string method, MethodType type, byte[] body, Metadata? headers = null)
    {
        var invoker = channel.CreateCallInvoker();
        var options = new CallOptions(headers, DateTime.UtcNow + CallDeadline);
        var descriptor = new Method<byte[], byte[]>(type, service, method, Bytes, Bytes);
        try
        {
            switch (type)
            {
                case MethodType.Unary:
                    await invoker.AsyncUnaryCall(descriptor, null, options, body);
                    break;
                case MethodType.ServerStreaming:
                {
                    using var call = invoker.AsyncServerStreamingCall(descriptor, null, options, body);
                    // One answer is enough: a valid watch streams until its deadline.
                    await call.ResponseStream.MoveNext(CancellationToken.None);
                    return new CallEnd(StatusCode.OK, "first message or end of stream", Reset: false);
                }

                default:
                {
                    using var call = invoker.AsyncDuplexStreamingCall(descriptor, null, options);
                    try
                    {
                        await call.RequestStream.WriteAsync(body);
                        await call.RequestStream.CompleteAsync();
                    }
                    catch (Exception exception) when (exception is RpcException or InvalidOperationException)
                    {
                        // The node ended the call before reading the request: its status says why.
                    }

                    while (await call.ResponseStream.MoveNext(CancellationToken.None))
                    {
                        // Drain.
                    }

                    break;
                }
            }

            return new CallEnd(StatusCode.OK, "", Reset: false);
        }
        catch (RpcException exception)
        {
            return new CallEnd(exception.StatusCode, exception.Status.Detail, Reset: false);
        }
    }

    /// <summary>A gRPC message frame: compressed flag, 4-byte big-endian length, then <paramref name="payload"/>.</summary>
    public static byte[] Frame(byte[] payload, uint? declaredLength = null, byte compressedFlag = 0)
    {
        var frame = new byte[5 + payload.Length];
        frame[0] = compressedFlag;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), declaredLength ?? (uint)payload.Length);
        payload.CopyTo(frame.AsSpan(5));
        return frame;
    }

    /// <summary>
    /// POSTs <paramref name="body"/> (raw bytes, framing included) as a gRPC request over HTTP/2 with prior
    /// knowledge; returns the grpc-status of the answer or that the stream was reset.
    /// </summary>
    public static async Task<CallEnd> PostAsync(Uri address, string path, HttpContent body, CancellationToken cancellationToken)
    {
        using var client = new HttpClient(new SocketsHttpHandler()) { Timeout = TimeSpan.FromSeconds(30) };
        return await PostAsync(client, address, path, body, cancellationToken);
    }

    /// <summary>As above, on the connections of <paramref name="client"/>.</summary>
    public static async Task<CallEnd> PostAsync(HttpClient client, Uri address, string path, HttpContent body, CancellationToken cancellationToken)
    {
        body.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(address, path))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = body,
        };
        request.Headers.TryAddWithoutValidation("te", "trailers");
        try
        {
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            await response.Content.ReadAsByteArrayAsync(cancellationToken);
            var status = Header(response.TrailingHeaders, "grpc-status") ?? Header(response.Headers, "grpc-status");
            var message = Header(response.TrailingHeaders, "grpc-message") ?? Header(response.Headers, "grpc-message") ?? "";
            return status is null
                ? new CallEnd(null, $"HTTP {(int)response.StatusCode} without grpc-status", Reset: false)
                : new CallEnd((StatusCode)int.Parse(status, System.Globalization.CultureInfo.InvariantCulture), Uri.UnescapeDataString(message), Reset: false);
        }
        catch (HttpRequestException exception)
        {
            return new CallEnd(null, exception.Message, Reset: true);
        }
        catch (IOException exception)
        {
            return new CallEnd(null, exception.Message, Reset: true);
        }
        catch (OperationCanceledException exception) when (!cancellationToken.IsCancellationRequested)
        {
            // The node aborted the stream while the body was still being sent.
            return new CallEnd(null, exception.Message, Reset: true);
        }
    }

    /// <summary>
    /// Connects to <paramref name="port"/>, writes <paramref name="bytes"/>, then reads until the node closes
    /// the connection or <paramref name="wait"/> passes; returns what the node sent and whether it closed.
    /// </summary>
    public static async Task<(byte[] Received, bool Closed)> RawAsync(int port, byte[] bytes, TimeSpan wait)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, port);
        var received = new List<byte>();
        using var deadline = new CancellationTokenSource(wait);
        try
        {
            await socket.SendAsync(bytes, SocketFlags.None, deadline.Token);
            var buffer = new byte[16 * 1024];
            while (received.Count < 1024 * 1024)
            {
                var read = await socket.ReceiveAsync(buffer, SocketFlags.None, deadline.Token);
                if (read == 0)
                {
                    return ([.. received], true);
                }

                received.AddRange(buffer.AsSpan(0, read));
            }
        }
        catch (SocketException)
        {
            // Reset by the node: closed too.
            return ([.. received], true);
        }
        catch (OperationCanceledException)
        {
            // Still open when the wait ended.
        }

        return ([.. received], false);
    }

    /// <summary>The HTTP/2 connection preface (RFC 9113 §3.4).</summary>
    public static readonly byte[] Http2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray();

    /// <summary>An HTTP/2 frame header and payload.</summary>
    public static byte[] Http2Frame(byte type, byte flags, int streamId, byte[] payload)
    {
        var frame = new byte[9 + payload.Length];
        frame[0] = (byte)(payload.Length >> 16);
        frame[1] = (byte)(payload.Length >> 8);
        frame[2] = (byte)payload.Length;
        frame[3] = type;
        frame[4] = flags;
        BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(5), streamId & int.MaxValue);
        payload.CopyTo(frame.AsSpan(9));
        return frame;
    }

    /// <summary>The first GOAWAY frame in <paramref name="received"/>, if any: its error code.</summary>
    public static uint? GoAwayError(byte[] received)
    {
        var offset = 0;
        while (offset + 9 <= received.Length)
        {
            var length = (received[offset] << 16) | (received[offset + 1] << 8) | received[offset + 2];
            var type = received[offset + 3];
            if (type == 0x7 && offset + 9 + 8 <= received.Length)
            {
                return BinaryPrimitives.ReadUInt32BigEndian(received.AsSpan(offset + 9 + 4));
            }

            offset += 9 + length;
        }

        return null;
    }

    private static string? Header(HttpHeaders headers, string name) =>
        headers.TryGetValues(name, out var values) ? values.FirstOrDefault() : null;
}
