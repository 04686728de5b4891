import NIOCore
import NIOTLS

/// First handler of an accepted connection: keeps every inbound byte until the broker knows what to do, and
/// (terminate mode) reports the parsed ClientHello. When removed it passes what it kept to the next handler.
final class InboundHoldHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = Never

    /// Reads stop while this much is held (the app must not fill the broker's memory before anything is decided).
    private static let holdLimit = 256 * 1024

    private var held: ByteBuffer?
    private var pendingRead = false
    private let parseHello: Bool
    private var reported = false
    /// The peer shut down its side (a half-close) while held: passed on after what was kept.
    private var inputClosed = false
    /// Called once: the first chunk of the app's bytes was classified (terminate mode) or arrived (relay mode).
    var onFirstFlight: ((ClientHelloParse) -> Void)?

    init(parseHello: Bool) {
        self.parseHello = parseHello
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var chunk = unwrapInboundIn(data)
        if held == nil { held = chunk } else { held!.writeBuffer(&chunk) }
        guard !reported, let held else { return }
        let result: ClientHelloParse = parseHello ? parseClientHello(held) : .notTLS(firstByte: held.readableBytesView.first ?? 0)
        if case .needMoreData = result {
            if held.readableBytes > Self.holdLimit { report(.malformed("no complete ClientHello in 256 KiB")) }
            return
        }
        report(result)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case ChannelEvent.inputClosed = event else { return context.fireUserInboundEventTriggered(event) }
        inputClosed = true
        // The peer is done sending: whatever it sent is all there is to judge.
        if !reported {
            switch held.map({ parseHello ? parseClientHello($0) : .notTLS(firstByte: $0.readableBytesView.first ?? 0) }) {
            case .none, .needMoreData?: report(.notTLS(firstByte: held?.readableBytesView.first ?? 0))
            case .some(let result): report(result)
            }
        }
    }

    private func report(_ result: ClientHelloParse) {
        reported = true
        let callback = onFirstFlight
        onFirstFlight = nil
        callback?(result)
    }

    func read(context: ChannelHandlerContext) {
        if (held?.readableBytes ?? 0) < Self.holdLimit { context.read() } else { pendingRead = true }
    }

    func removeHandler(context: ChannelHandlerContext, removalToken: ChannelHandlerContext.RemovalToken) {
        onFirstFlight = nil
        if let held, held.readableBytes > 0 {
            self.held = nil
            context.fireChannelRead(wrapInboundOut(held))
            context.fireChannelReadComplete()
        }
        if inputClosed { context.fireUserInboundEventTriggered(ChannelEvent.inputClosed) }
        if pendingRead {
            pendingRead = false
            context.read()
        }
        context.leavePipeline(removalToken: removalToken)
    }
}

/// Watches a TLS handshake (the handler before it is a NIOSSL handler): reports completion with the negotiated
/// ALPN protocol, or the error / closure that ended it. Keeps application data that arrives between the handshake
/// and the moment the relay is wired, and passes it on when removed.
final class HandshakeWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    enum Outcome {
        case completed(alpn: String?)
        case failed(any Error)
        case closed
    }

    /// What the peer did after a completed handshake, before the relay was wired.
    enum After {
        case data
        case error(any Error)
        case closed

        var isClosed: Bool { if case .closed = self { true } else { false } }
    }

    private var onOutcome: ((Outcome) -> Void)?
    /// Set after a completed handshake to learn (once) what the peer does next.
    var afterHandshake: ((After) -> Void)?
    private var held: ByteBuffer?
    private var heldEvents: [Any] = []

    init(onOutcome: @escaping (Outcome) -> Void) {
        self.onOutcome = onOutcome
    }

    private func report(_ outcome: Outcome) {
        let callback = onOutcome
        onOutcome = nil
        callback?(outcome)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let tls = event as? TLSUserEvent, case .handshakeCompleted(let alpn) = tls {
            report(.completed(alpn: alpn))
        } else {
            heldEvents.append(event)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var chunk = unwrapInboundIn(data)
        if held == nil { held = chunk } else { held!.writeBuffer(&chunk) }
        if onOutcome == nil, let after = afterHandshake {
            afterHandshake = nil
            after(.data)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if onOutcome != nil {
            report(.failed(error))
        } else if let after = afterHandshake {
            afterHandshake = nil
            after(.error(error))
        } else {
            context.close(promise: nil)      // after the handshake, before the relay: nothing to salvage
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if onOutcome != nil {
            report(.closed)
        } else if let after = afterHandshake {
            afterHandshake = nil
            after(.closed)
        }
        context.fireChannelInactive()
    }

    /// What the peer sent after its handshake and before the relay, taken out (its channel is gone).
    func takeHeld() -> ByteBuffer? {
        defer { held = nil }
        return held
    }

    func removeHandler(context: ChannelHandlerContext, removalToken: ChannelHandlerContext.RemovalToken) {
        onOutcome = nil
        afterHandshake = nil
        if let held, held.readableBytes > 0 {
            self.held = nil
            context.fireChannelRead(wrapInboundOut(held))
            context.fireChannelReadComplete()
        }
        for event in heldEvents { context.fireUserInboundEventTriggered(event) }
        heldEvents = []
        context.leavePipeline(removalToken: removalToken)
    }
}

/// One half of a relay between two channels on the same event loop (after swift-nio's GlueHandler): what one side
/// reads the other writes; a side reads only while its partner can take more (back-pressure); closing one closes
/// the other, and in a plain relay a half-close (shutdown of one direction) is passed on as a half-close, so a
/// request–response over a half-closed stream works as it does without the broker. The app's half can delay its
/// writes by a fixed cost per TLS record.
final class GlueHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private static let recordSize = 16 * 1024
    private static let delayedLimit = 1 << 20

    private var partner: GlueHandler?
    private var context: ChannelHandlerContext?
    private var pendingRead = false
    /// Bytes this side read (and handed to its partner).
    private(set) var bytesRead = 0
    private let delayPerRecord: TimeAmount
    private var releaseAt = NIODeadline.uptimeNanoseconds(0)
    private var delayedBytes = 0
    private var closeWhenDrained = false
    private let halfClose: Bool
    private var inputClosed = false
    private var outputClosed = false
    /// The output shutdown has happened (after the pending writes).
    private var outputEnded = false

    private init(delayPerRecord: TimeAmount, halfClose: Bool) {
        self.delayPerRecord = delayPerRecord
        self.halfClose = halfClose
    }

    /// `(app side, upstream side)`; the app side applies `delayPerRecord` to what it writes toward the app.
    /// `halfClose`: pass half-closes on (plain relays); otherwise the end of one side's input closes both.
    static func matchedPair(delayTowardApp: TimeAmount, halfClose: Bool) -> (app: GlueHandler, upstream: GlueHandler) {
        let app = GlueHandler(delayPerRecord: delayTowardApp, halfClose: halfClose)
        let upstream = GlueHandler(delayPerRecord: .zero, halfClose: halfClose)
        app.partner = upstream
        upstream.partner = app
        return (app, upstream)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.partner = nil
    }

    private func partnerWrite(_ buffer: ByteBuffer) {
        guard let context else { return }
        guard delayPerRecord > .zero else {
            context.write(wrapOutboundOut(buffer), promise: nil)
            return
        }
        let records = max(1, (buffer.readableBytes + Self.recordSize - 1) / Self.recordSize)
        releaseAt = max(releaseAt, .now()) + delayPerRecord * Int64(records)
        delayedBytes += buffer.readableBytes
        let size = buffer.readableBytes
        context.eventLoop.assumeIsolated().scheduleTask(deadline: releaseAt) { [self] in
            guard let context = self.context else { return }
            context.writeAndFlush(self.wrapOutboundOut(buffer), promise: nil)
            let wasBlocked = !self.partnerWritable
            self.delayedBytes -= size
            if self.closeWhenDrained, self.delayedBytes == 0 {
                context.close(promise: nil)
            } else if wasBlocked, self.partnerWritable {
                self.partner?.partnerBecameWritable()
            }
        }
    }

    private func partnerFlush() {
        if delayPerRecord == .zero { context?.flush() }
    }

    private func partnerCloseFull() {
        if delayedBytes > 0 { closeWhenDrained = true } else { context?.close(promise: nil) }
    }

    private func partnerBecameWritable() {
        if pendingRead {
            pendingRead = false
            context?.read()
        }
    }

    private var partnerWritable: Bool {
        (context?.channel.isWritable ?? false) && delayedBytes < Self.delayedLimit
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        bytesRead += buffer.readableBytes
        partner?.partnerWrite(buffer)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.partnerFlush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.partnerCloseFull()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case ChannelEvent.inputClosed = event else { return context.fireUserInboundEventTriggered(event) }
        inputClosed = true
        guard halfClose else {
            partner?.partnerCloseFull()
            context.close(promise: nil)
            return
        }
        partner?.partnerCloseOutput()
        closeWhenBothEnded()
    }

    /// The partner's peer is done sending: so is this side, once what was written is sent (NIO
    /// shuts the socket's output down after its pending writes).
    private func partnerCloseOutput() {
        guard let context, !outputClosed else { return }
        outputClosed = true
        context.flush()
        let promise = context.eventLoop.makePromise(of: Void.self)
        context.close(mode: .output, promise: promise)
        promise.futureResult.assumeIsolated().whenComplete { [self] _ in
            outputEnded = true
            closeWhenBothEnded()
        }
    }

    /// Both directions are over: the channel is closed.
    private func closeWhenBothEnded() {
        if inputClosed && outputEnded { context?.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        partner?.partnerCloseFull()
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if partnerWritable { partner?.partnerBecameWritable() }
    }

    func read(context: ChannelHandlerContext) {
        if let partner, partner.partnerWritable {
            context.read()
        } else {
            pendingRead = true
        }
    }
}

/// Sits below a NIOSSL handler and follows the raw TLS record framing of what the peer sends: it notices every
/// inbound chunk (for the upstream: bytes after the handshake, such as TLS 1.3 session tickets, mean the server
/// accepted our client certificate) and remembers the last *plaintext* alert record. OpenSSL clients send the alert
/// that rejects a server certificate before they switch to handshake keys, so it is plaintext; BoringSSL then only
/// reports a record it could not decrypt, and this is where the alert's name is read.
final class RecordObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private(set) var lastPlaintextAlert: TLSAlert?
    /// Called after each inbound chunk went through the handlers above this one.
    var onInbound: (() -> Void)?

    private var header: [UInt8] = []
    private var recordType: UInt8 = 0
    private var remaining = 0
    private var body: [UInt8] = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        observe(unwrapInboundIn(data).readableBytesView)
        context.fireChannelRead(data)
        onInbound?()
    }

    private func observe(_ bytes: ByteBufferView) {
        var index = bytes.startIndex
        while index < bytes.endIndex {
            if remaining == 0 {
                header.append(bytes[index])
                index += 1
                if header.count == 5 {
                    recordType = header[0]
                    remaining = Int(header[3]) << 8 | Int(header[4])
                    header = []
                    body = []
                }
                continue
            }
            let take = min(remaining, bytes.endIndex - index)
            if recordType == 21, body.count + take <= 2 { body.append(contentsOf: bytes[index..<(index + take)]) }
            index += take
            remaining -= take
            if remaining == 0, recordType == 21, body.count == 2 {
                lastPlaintextAlert = TLSAlert(rawValue: body[1])
            }
        }
    }
}
