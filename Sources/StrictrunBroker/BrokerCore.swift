import Dispatch
import NIOCore
import NIOSSL
import Synchronization

/// A client-certificate rule with its files already loaded (the key never leaves this process).
struct LoadedClientRule: Sendable {
    var rule: ClientCertificateRule
    var chain: [NIOSSLCertificate]
    var key: NIOSSLPrivateKey

    init(_ rule: ClientCertificateRule) throws {
        self.rule = rule
        do {
            chain = try NIOSSLCertificate.fromPEMFile(rule.certificateChainPath)
        } catch {
            throw BrokerError.cannotLoadClientCertificate(path: rule.certificateChainPath, reason: String(describing: error))
        }
        guard !chain.isEmpty else {
            throw BrokerError.cannotLoadClientCertificate(path: rule.certificateChainPath, reason: "no certificate in the file")
        }
        do {
            key = try NIOSSLPrivateKey(file: rule.privateKeyPath, format: .pem)
        } catch {
            throw BrokerError.cannotLoadClientCertificate(path: rule.privateKeyPath, reason: String(describing: error))
        }
    }
}

/// Set from a NIOSSL callback, read on the connection's event loop.
final class Flag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}

/// What every connection of one broker shares: configuration, CA, verifier, registry and TLS contexts.
final class BrokerCore: Sendable {
    let configuration: BrokerConfiguration
    let authority: CertificateAuthority
    let verifier: ChainVerifier
    /// Verifies a mirrored chain as an app trusting only the per-run CA would, to be sure the mirror fails.
    let mirrorChecker: ChainVerifier
    let registry = Registry()
    let clientRules: [LoadedClientRule]
    let emit: @Sendable (BrokerEvent) -> Void

    private struct AppContextKey: Hashable {
        var name: String
        var alpn: String?
    }

    private let appContexts = Mutex<[AppContextKey: NIOSSLContext]>([:])
    /// What `castHandlerTypes` found (kept so that the optimizer keeps its casts).
    private let handlerRolesLookedUp = Atomic<Int>(0)

    init(configuration: BrokerConfiguration, authority: CertificateAuthority, trust: TrustSource,
         clientRules: [LoadedClientRule], emit: @escaping @Sendable (BrokerEvent) -> Void) throws {
        self.configuration = configuration
        self.authority = authority
        self.verifier = ChainVerifier(source: trust)
        self.mirrorChecker = ChainVerifier(source: TrustSource(TrustStore([authority.certificate])))
        self.clientRules = clientRules
        self.emit = emit
    }

    /// The index of the first client-certificate rule matching the SNI name, else the hostname, else the IP.
    func clientRule(sni: String?, destination: Destination) -> Int? {
        let name = sni ?? destination.hostname ?? destination.ip
        return clientRules.firstIndex { $0.rule.matches(name) }
    }

    /// Server context toward the app: the per-run CA's leaf for `name`, offering exactly the upstream's ALPN result.
    func appContext(name: String, alpn: String?) throws -> NIOSSLContext {
        let key = AppContextKey(name: name.lowercased(), alpn: alpn)
        if let context = appContexts.withLock({ $0[key] }) { return context }
        let leaf = try authority.leaf(for: key.name)
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(leaf)], privateKey: .privateKey(authority.leafNIOKey))
        configuration.applicationProtocols = alpn.map { [$0] } ?? []
        let context = try NIOSSLContext(configuration: configuration)
        appContexts.withLock { $0[key] = context }
        return context
    }

    /// The first-use work of a handshake, once, for a name no connection asks for: the trust store loaded, a leaf
    /// issued and a server context made, a client context made, a chain verified (the leaf against the per-run CA). Done on the thread
    /// that started the broker while the first routed connect returns and the app builds its ClientHello, so that
    /// the first handshake does not pay for SwiftNIO's, BoringSSL's and swift-certificates' cold paths.
    func warmUp() {
        let name = "strictrun-warm-up.invalid"
        handlerRolesLookedUp.store(Self.castHandlerTypes(), ordering: .relaxed)
        _ = try? verifier.source.store()
        _ = try? appContext(name: name, alpn: nil)
        _ = try? upstreamContext(alpn: ["http/1.1"], rule: nil, certificateRequested: Flag())
        guard let leaf = try? authority.leaf(for: name), let der = try? leaf.toDERBytes() else { return }
        let checker = mirrorChecker
        let done = DispatchSemaphore(value: 0)
        Task {
            _ = await checker.verify(der: [der], hostname: name, ip: nil)
            done.signal()
        }
        done.wait()
    }

    /// The dynamic casts SwiftNIO makes of each handler a pipeline is given (is it inbound, outbound,
    /// removable: `ChannelHandlerContext`), made once per handler type here, on the warm-up's thread.
    /// The runtime answers a type's first cast to a protocol by scanning every conformance record of
    /// the binary (~25–50 µs each here); about fifteen of them fell on the event loop during the
    /// first routed handshake. Later casts of the same type hit the runtime's cache.
    /// Returns how many of those roles the types have.
    static func castHandlerTypes() -> Int {
        let types: [Any.Type] = [InboundHoldHandler.self, HandshakeWatcher.self, GlueHandler.self,
                                 RecordObserver.self, NIOSSLServerHandler.self, NIOSSLClientHandler.self]
        return types.reduce(0) { $0 + roles(of: $1) }
    }

    /// Not inlined: with the type known where it is cast, the compiler answers the cast itself and the
    /// runtime never looks (nor caches).
    @inline(never)
    private static func roles(of type: Any.Type) -> Int {
        (type is any _ChannelInboundHandler.Type ? 1 : 0) + (type is any _ChannelOutboundHandler.Type ? 1 : 0)
            + (type is any RemovableChannelHandler.Type ? 1 : 0)
    }

    /// Server context toward the app presenting a mirrored chain (never cached: failures are rare).
    func mirrorContext(chain: [NIOSSLCertificate], key: NIOSSLPrivateKey) throws -> NIOSSLContext {
        let configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        return try NIOSSLContext(configuration: configuration)
    }

    /// Client context toward the upstream, made per connection (about 20 µs) so that its certificate callback can
    /// tell this connection's `certificateRequested`: BoringSSL calls a client's certificate callback only when the
    /// server sent a CertificateRequest. Verification is done by ``ChainVerifier`` in NIOSSL's custom callback, so
    /// BoringSSL loads no trust store.
    func upstreamContext(alpn: [String], rule: Int?, certificateRequested: Flag) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .noHostnameVerification
        configuration.trustRoots = .certificates([])
        configuration.applicationProtocols = alpn
        if let rule {
            configuration.certificateChain = clientRules[rule].chain.map { .certificate($0) }
            configuration.privateKey = .privateKey(clientRules[rule].key)
        }
        configuration.sslContextCallback = { _, promise in
            certificateRequested.set()
            promise.succeed(.noChanges)
        }
        return try NIOSSLContext(configuration: configuration)
    }
}
