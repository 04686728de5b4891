#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A failure to write the trace (e.g. the disk is full).
public struct TraceError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var operation: String
    public var errno: Int32
    public var description: String { "trace \(path): \(operation): \(String(cString: strerror(errno)))" }
}

/// Writes JSON lines, one `write(2)` per event, so each line reaches the kernel as soon as
/// it is observed: a crash of the program or of strictrun loses nothing already written.
/// Thread-safe: the tracer thread and the TLS broker's threads write to one trace; a lock
/// keeps `seq` in file order and lines whole.
public final class TraceWriter: Sendable {
    public let path: String
    private let fd: Int32
    private let seq = Mutex<Int64>(0)
    /// The trace file's device and inode (nil if fstat failed): how the tracer recognises it
    /// under any name the program uses.
    public let file: (device: UInt64, inode: UInt64)?
    /// Lines written so far.
    public var count: Int64 { seq.withLock { $0 } }

    /// Create (or truncate) the trace at `path`. The descriptor is close-on-exec, so the
    /// traced program never inherits it.
    public init(path: String) throws(TraceError) {
        self.path = path
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_APPEND, 0o644)
        if fd < 0 { throw TraceError(path: path, operation: "open", errno: errno) }
        self.fd = fd
        var info = stat()
        file = fstat(fd, &info) == 0 ? (UInt64(info.st_dev), UInt64(info.st_ino)) : nil
    }

    deinit { close(fd) }

    /// Write one event: `v`, `seq`, `time` and `type` first, then the event's members in order.
    public func write(_ event: some TraceEvent) throws(TraceError) {
        try write(type(of: event).type, event.members)
    }

    private func write(_ type: EventType, _ fields: [(String, JSONValue)]) throws(TraceError) {
        var body: [UInt8] = []
        body.reserveCapacity(1024)
        for (key, value) in fields {
            body.append(UInt8(ascii: ","))
            JSONValue.writeString(key, to: &body)
            body.append(UInt8(ascii: ":"))
            value.write(to: &body)
        }
        body.append(contentsOf: "}\n".utf8)
        let result: Result<Void, TraceError> = seq.withLock { seq in
            seq += 1
            var line: [UInt8] = []
            line.reserveCapacity(body.count + 96)
            line.append(contentsOf: "{\"v\":\(traceSchemaVersion),\"seq\":\(seq),\"time\":\"\(rfc3339Now())\",\"type\":".utf8)
            JSONValue.writeString(type.rawValue, to: &line)
            line.append(contentsOf: body)
            return Result { () throws(TraceError) in try writeAll(line) }
        }
        try result.get()
    }

    private func writeAll(_ line: [UInt8]) throws(TraceError) {
        var failure: Int32 = 0
        line.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                offset += n
            }
        }
        if failure != 0 { throw TraceError(path: path, operation: "write", errno: failure) }
    }
}

/// The current time as RFC 3339 UTC with microseconds: `2026-11-25T13:39:00.123456Z`.
public func rfc3339Now() -> String {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    var seconds = ts.tv_sec
    var parts = tm()
    gmtime_r(&seconds, &parts)
    func pad(_ v: Int32, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
    return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
        + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))."
        + "\(pad(Int32(ts.tv_nsec / 1000), 6))Z"
}
