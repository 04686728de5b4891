import StrictrunSystem

/// The per-run CA is made on a thread of its own while the program starts; a program reads
/// its trust files (`NODE_EXTRA_CA_CERTS`, `SSL_CERT_FILE`, …) when it builds its first TLS
/// context, often early (Node reads its extra CAs at start-up). Under a profile whose filter
/// sends every open that can read to the tracer, the launcher does not wait for the CA before
/// exec: an open whose path names one of the CA's files waits here instead, at its seccomp stop,
/// before any check judges it. Until the files exist the directory does not (it is renamed
/// into place whole), so a path that reaches it by another name finds nothing rather than a
/// part. Once the files are written the barrier is gone and costs nothing.
final class TrustBarrier {
    private let router: any ConnectionRouter
    /// What the trust files' names have in common, as bytes (`strictrun-ca`).
    private let marker: [UInt8]
    private(set) var open = true

    init?(router: (any ConnectionRouter)?, policy: CompiledPolicy) {
        guard let router, policy.tracesEveryReadingOpen, !router.trustSettled else { return nil }
        self.router = router
        marker = Array(router.trustFileMarker.utf8)
    }

    /// Holds `stop` until the trust files exist when it opens a path naming one of them.
    func hold(_ stop: SyscallStop, memory: some MemoryReading) {
        if router.trustSettled {
            open = false
            return
        }
        let index: Int
        switch stop.name {
        case "open", "creat": index = 0
        case "openat", "openat2": index = 1
        default: return
        }
        guard let path = memory.cString(at: stop.args[index]), path.contains(marker) else { return }
        // A failure to make them shows at the first routed connect (a `tls` line) and on stderr.
        try? router.waitUntilTrusted()
        open = false
    }
}

extension Array where Element == UInt8 {
    /// Whether `needle` occurs in these bytes.
    fileprivate func contains(_ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, needle.count <= count else { return needle.isEmpty }
        return (0...(count - needle.count)).contains { start in self[start..<(start + needle.count)].elementsEqual(needle) }
    }
}
