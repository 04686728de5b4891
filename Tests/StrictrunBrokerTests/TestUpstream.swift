import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// A minimal HTTP/1.1 server on loopback (TLS when given a configuration) that answers every request, then closes:
/// `GET /bulk/N` streams N bytes; any other path gets `hello from upstream <path> client=<client cert subject>`.
final class TestUpstream: Sendable {
    let channel: Channel
    let port: Int
    let host: String

    private init(channel: Channel, host: String) {
        self.channel = channel
        self.host = host
        self.port = channel.localAddress!.port!
    }

    static func start(group: EventLoopGroup, host: String = "127.0.0.1", tls: TLSConfiguration?) throws -> TestUpstream {
        let context = try tls.map { try NIOSSLContext(configuration: $0) }
        let channel = try ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let context {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    }
                    try channel.pipeline.syncOperations.addHandler(HTTPResponder(tls: context != nil))
                }
            }
            .bind(host: host, port: 0).wait()
        return TestUpstream(channel: channel, host: host)
    }

    func stop() {
        try? channel.close().wait()
    }
}

private final class HTTPResponder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let tls: Bool
    private var request = ""
    private var answered = false
    private var remaining = 0

    init(tls: Bool) { self.tls = tls }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !answered else { return }
        request += String(buffer: unwrapInboundIn(data))
        guard request.contains("\r\n\r\n") else { return }
        answered = true
        let path = request.split(separator: " ").dropFirst().first.map(String.init) ?? "/"
        if path.hasPrefix("/bulk/"), let size = Int(path.dropFirst(6)) {
            remaining = size
            let head = "HTTP/1.1 200 OK\r\nContent-Length: \(size)\r\nConnection: close\r\n\r\n"
            context.write(wrapOutboundOut(ByteBuffer(string: head)), promise: nil)
            pump(context: context)
            return
        }
        var client = "none"
        if tls, let handler = try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self),
           let certificate = handler.peerCertificate {
            client = certificate.description
        }
        let body = "hello from upstream \(path) client=\(client)\n"
        let response = "HTTP/1.1 200 OK\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: response))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    private static let chunk = ByteBuffer(repeating: 0x61, count: 64 * 1024)

    /// Writes the bulk body while the channel is writable, resumes on writability.
    private func pump(context: ChannelHandlerContext) {
        while remaining > 0, context.channel.isWritable {
            var piece = Self.chunk
            if remaining < piece.readableBytes { piece = piece.getSlice(at: 0, length: remaining)! }
            remaining -= piece.readableBytes
            if remaining == 0 {
                context.writeAndFlush(wrapOutboundOut(piece)).assumeIsolated().whenComplete { _ in
                    context.close(promise: nil)
                }
                return
            }
            context.write(wrapOutboundOut(piece), promise: nil)
        }
        context.flush()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if remaining > 0, context.channel.isWritable { pump(context: context) }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
