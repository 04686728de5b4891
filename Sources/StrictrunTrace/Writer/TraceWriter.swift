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
///
/// The writer also keeps its own copy of what it wrote (up to `copyLimit` bytes), out of the
/// program's reach: a trace the program managed to change anyway (a name swapped between a check
/// and the call, a descriptor used in the instant before its open was judged) is found by
/// `damage` and written again whole by `restore`.
public final class TraceWriter: Sendable {
    public let path: String
    private let fd: Int32
    private let seq = Mutex<Int64>(0)
    /// Bytes written, and the copy of them (nil once it outgrew `copyLimit`).
    private let written = Mutex<(count: Int, copy: [UInt8]?)>((0, []))
    /// The most the writer keeps a copy of (128 MiB): past it a change is still found, not undone.
    public static let copyLimit = 128 << 20
    /// The trace file's device and inode (nil if fstat failed): how the tracer recognises it
    /// under any name the program uses.
    public let file: (device: UInt64, inode: UInt64)?
    /// Whether the writer still holds a copy of everything it wrote (see `copyLimit`).
    public var hasCopy: Bool { written.withLock { $0.copy != nil } }
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
            return Result { () throws(TraceError) in
                try writeAll(line)
                written.withLock { written in
                    written.count += line.count
                    if written.copy != nil, written.count <= Self.copyLimit { written.copy!.append(contentsOf: line) }
                    else { written.copy = nil }
                }
            }
        }
        try result.get()
    }

    /// What is wrong with the trace file, or nil when it is as written: the name no longer
    /// reaches it (unlinked, renamed, replaced), or its size is not what was written; with
    /// `contents`, also the bytes compared with the writer's copy.
    public func damage(contents: Bool = false) -> String? {
        let (count, copy) = written.withLock { ($0.count, contents ? $0.copy : nil) }
        var held = stat()
        guard fstat(fd, &held) == 0 else { return "fstat failed: \(String(cString: strerror(errno)))" }
        if held.st_nlink == 0 { return "the trace file was unlinked" }
        var named = stat()
        if stat(path, &named) != 0 || named.st_dev != held.st_dev || named.st_ino != held.st_ino {
            return "\(path) no longer names the trace file"
        }
        if Int(held.st_size) != count { return "the trace file has \(held.st_size) bytes, \(count) were written" }
        guard let copy else { return nil }
        let reader = open("/proc/self/fd/\(fd)", O_RDONLY | O_CLOEXEC)
        guard reader >= 0 else { return nil }
        defer { close(reader) }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var offset = 0
        while offset < copy.count {
            let n = buffer.withUnsafeMutableBytes { pread(reader, $0.baseAddress!, $0.count, off_t(offset)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return "the trace file could not be read back" }
            if !copy[offset..<min(copy.count, offset + n)].elementsEqual(buffer[0..<n]) {
                return "the trace file's bytes at offset \(offset) are not what was written"
            }
            offset += n
        }
        return nil
    }

    /// Writes the trace again at its path from the writer's copy (a new file renamed over the
    /// name, so a reader never sees half of it). False when there is no copy to write from.
    public func restore() throws(TraceError) -> Bool {
        guard let copy = written.withLock({ $0.copy }) else { return false }
        let temporary = path + ".strictrun-restore"
        let out = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o644)
        if out < 0 { throw TraceError(path: temporary, operation: "open", errno: errno) }
        defer { close(out) }
        var offset = 0
        while offset < copy.count {
            let n = copy[offset...].withUnsafeBytes { Glibc.write(out, $0.baseAddress!, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw TraceError(path: temporary, operation: "write", errno: errno) }
            offset += n
        }
        if rename(temporary, path) != 0 { throw TraceError(path: path, operation: "rename", errno: errno) }
        return true
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
