import CStrictrunShims
import StrictrunSystem
#if canImport(Glibc)
import Glibc
#endif

/// A plain stream relayed byte for byte between the app's connection and the destination, inside
/// the kernel: each direction splices from its source socket into a pipe and from the pipe into
/// the other socket (splice(2), no copy through the broker's memory). A half-close is passed on
/// (the end of one side's input shuts the other side's output once the pipe is drained); a reset
/// or error on either side resets the other. Driven by ``StreamFront``'s epoll loop, on its thread.
final class SpliceRelay {
    /// One direction: bytes read from `from` and written to `to`, through a pipe.
    struct Direction {
        let from: Int32
        let to: Int32
        let pipe: (read: Int32, write: Int32)
        let capacity: Int
        /// Bytes in the pipe, not yet written to `to`.
        var inPipe = 0
        /// Bytes that went through.
        var total = 0
        /// `from` reached its end of stream.
        var ended = false
        /// `to`'s output was shut down after the end (the direction is over).
        var finished = false
        /// Waiting for `from` to be readable / `to` to be writable.
        var wantsInput = false
        var wantsOutput = false
    }

    enum Outcome {
        case running
        case finished
        case failed(Int32)
    }

    let id: UInt64
    let destination: Destination
    let app: Int32
    let upstream: Int32
    private(set) var up: Direction
    private(set) var down: Direction

    /// Pipe size asked for (F_SETPIPE_SZ; the kernel may give less, never more than pipe-max-size).
    private static let pipeSize: Int32 = 1 << 20

    /// Nil when the pipes cannot be made (descriptors exhausted).
    init?(id: UInt64, destination: Destination, app: Int32, upstream: Int32) {
        guard let toUpstream = Self.makePipe() else { return nil }
        guard let toApp = Self.makePipe() else {
            Glibc.close(toUpstream.0.read)
            Glibc.close(toUpstream.0.write)
            return nil
        }
        self.id = id
        self.destination = destination
        self.app = app
        self.upstream = upstream
        up = Direction(from: app, to: upstream, pipe: toUpstream.0, capacity: toUpstream.1)
        down = Direction(from: upstream, to: app, pipe: toApp.0, capacity: toApp.1)
    }

    private static func makePipe() -> ((read: Int32, write: Int32), Int)? {
        var fds: [Int32] = [0, 0]
        guard strictrun_pipe_nonblock(&fds) == 0 else { return nil }
        let size = fcntl(fds[1], 1031 /* F_SETPIPE_SZ */, pipeSize)
        let capacity = size > 0 ? Int(size) : Int(fcntl(fds[1], 1032 /* F_GETPIPE_SZ */))
        return ((fds[0], fds[1]), max(capacity, 4096))
    }

    /// Moves what can be moved now in both directions.
    func pump() -> Outcome {
        if case .failed(let code) = Self.pump(&up) { return .failed(code) }
        if case .failed(let code) = Self.pump(&down) { return .failed(code) }
        return up.finished && down.finished ? .finished : .running
    }

    private static func pump(_ d: inout Direction) -> Outcome {
        d.wantsInput = false
        d.wantsOutput = false
        while !d.finished {
            if d.inPipe > 0 {
                let n = Int(strictrun_splice(d.pipe.read, d.to, d.inPipe))
                if n > 0 {
                    d.inPipe -= n
                    continue
                }
                if n < 0 && (errno == EAGAIN || errno == EINTR) {
                    d.wantsOutput = errno == EAGAIN
                    if errno == EAGAIN { return .running }
                    continue
                }
                return .failed(n < 0 ? errno : EPIPE)
            }
            if d.ended {
                shutdown(d.to, Int32(SHUT_WR))
                d.finished = true
                break
            }
            // The pipe is empty, so EAGAIN here means the socket has nothing to read.
            let n = Int(strictrun_splice(d.from, d.pipe.write, d.capacity))
            if n > 0 {
                d.inPipe += n
                d.total += n
            } else if n == 0 {
                d.ended = true
            } else if errno == EAGAIN {
                d.wantsInput = true
                return .running
            } else if errno != EINTR {
                return .failed(errno)
            }
        }
        return .running
    }

    /// The epoll interest of each socket: input wanted by the direction it feeds, output by the one it drains.
    var appInterest: UInt32 { interest(input: up.wantsInput, output: down.wantsOutput) }
    var upstreamInterest: UInt32 { interest(input: down.wantsInput, output: up.wantsOutput) }

    private func interest(input: Bool, output: Bool) -> UInt32 {
        (input ? STRICTRUN_EPOLLIN : 0) | (output ? STRICTRUN_EPOLLOUT : 0)
    }

    /// Closes both sockets and the pipes; `reset`: with RST (SO_LINGER 0), to pass a failure on.
    func close(reset: Bool) {
        for fd in [app, upstream] { if reset { Sockets.closeWithReset(fd) } else { Glibc.close(fd) } }
        for fd in [up.pipe.read, up.pipe.write, down.pipe.read, down.pipe.write] { Glibc.close(fd) }
    }
}
