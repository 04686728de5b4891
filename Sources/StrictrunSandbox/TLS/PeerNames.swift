import StrictrunPolicy
import StrictrunSystem
import StrictrunTrace

/// The sockets the tracer connected to the broker, by their identity (sockfs device and inode),
/// with the address the program asked for. Tracer thread only.
final class RoutedSockets {
    private var destinations: [FileIdentity: [UInt8]] = [:]

    /// The socket `identity` was routed; the program meant `destination`.
    func record(_ identity: FileIdentity, destination: SocketAddress) {
        // A socket inode is not reused while the socket lives; closed ones are forgotten wholesale.
        if destinations.count >= 65_536 { destinations = [:] }
        destinations[identity] = PeerNameCheck.peerName(destination)
    }

    func destination(of identity: FileIdentity) -> [UInt8]? { destinations[identity] }
}

/// getpeername(2) on a routed socket answers the address the program connected to, not the
/// broker's: a mediated connection must look like the program's own (Node's `socket.remotePort`,
/// Python's `getpeername()`). Any other socket's call runs as made; no event either way.
struct PeerNameCheck {
    let routed: RoutedSockets?

    func decide(_ stop: SyscallStop, view: some TraceeView) -> Decision {
        let fd = Int32(truncatingIfNeeded: stop.args[0])
        guard let routed, fd >= 0,
              let socket = view.identity(Array("/proc/\(stop.tgid)/fd/\(fd)".utf8), follow: true),
              let address = routed.destination(of: socket) else { return .pass }
        // socklen_t in, the full length out, the address cut to what fits (as the kernel does).
        let lengthBytes = view.memory(stop.tid).read(at: stop.args[2], count: 4)
        guard lengthBytes.count == 4 else { return Decision(verdict: .deny(Errno.fault)) }
        let room = Int(lengthBytes.reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
        guard room >= 0, room < 1 << 30 else { return Decision(verdict: .deny(Errno.invalid)) }
        var verdict = Verdict(action: .skip(returning: 0))
        if room > 0 { verdict.writes.append((stop.args[1], Array(address.prefix(room)))) }
        verdict.writes.append((stop.args[2], withUnsafeBytes(of: UInt32(address.count).littleEndian) { Array($0) }))
        return Decision(verdict: verdict)
    }

    /// The sockaddr the kernel's getpeername would give for a connection to `destination`: the
    /// family's own size, padding zeroed (the program's connect may have passed a larger buffer).
    static func peerName(_ destination: SocketAddress) -> [UInt8] {
        let bytes = destination.bytes
        if destination.family == SocketAddress.inet6, bytes.count >= 24 {
            // family, port, flowinfo 0, address, scope id.
            let scope = bytes.count >= 28 ? Array(bytes[24..<28]) : [0, 0, 0, 0]
            return Array(bytes[0..<4]) + [0, 0, 0, 0] + Array(bytes[8..<24]) + scope
        }
        guard bytes.count >= 8 else { return bytes }
        return Array(bytes[0..<8]) + [UInt8](repeating: 0, count: 8)
    }
}
