#if canImport(Glibc)
import Glibc
#endif

/// A directory of strictrun's own small files (the filter cache): made 0700 where missing, opened
/// once (`O_DIRECTORY|O_NOFOLLOW`: a symlink put in its place is refused), and its files read and
/// written through that descriptor only (openat(2), renameat(2)), never through a symlink. A file
/// is written 0600 under a temporary name and renamed over the old one, so a reader sees a whole
/// file or none. Files here are not trusted for what they say: their reader authenticates them.
public final class PrivateDirectory {
    public let path: String
    private let fd: Int32

    /// Opens `path`; when it is missing and `create`, makes it first (and missing parents, 0700).
    public init(path: String, create: Bool) throws(SystemError) {
        let flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC
        var fd = open(path, flags)
        if fd < 0 && errno == ENOENT && create {
            var partial = path.hasPrefix("/") ? "" : "."
            for component in path.split(separator: "/") {
                partial += "/" + component
                if mkdir(partial, 0o700) != 0 && errno != EEXIST { throw SystemError("mkdir \(partial)") }
            }
            fd = open(path, flags)
        }
        if fd < 0 { throw SystemError("open \(path)") }
        self.path = path
        self.fd = fd
    }

    deinit { close(fd) }

    /// The whole regular file `name` (a plain name, no `/`), when it has at most `limit` bytes.
    public func read(_ name: String, limit: Int) throws(SystemError) -> [UInt8] {
        let file = try valueOrErrno("open \(name)") { openat(fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK) }
        defer { close(file) }
        var info = stat()
        _ = try valueOrErrno("fstat \(name)") { fstat(file, &info) }
        guard info.st_mode & S_IFMT == S_IFREG, info.st_size <= limit else { throw SystemError("read \(name)", errno: EFBIG) }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { pread(file, $0.baseAddress! + done, $0.count - done, off_t(done)) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw SystemError("pread \(name)") }
            if n == 0 { break }
            done += n
        }
        return Array(bytes.prefix(done))
    }

    /// Replaces `name` (a plain name) with `bytes`: written 0600 to `name.PID.tmp`, then renamed.
    public func replace(_ name: String, with bytes: [UInt8]) throws(SystemError) {
        let temporary = "\(name).\(getpid()).tmp"
        unlinkat(fd, temporary, 0)
        let file = try valueOrErrno("open \(temporary)") {
            openat(fd, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        }
        let code = FileContents.write(bytes, to: file)
        close(file)
        guard code == 0 else {
            unlinkat(fd, temporary, 0)
            throw SystemError("write \(temporary)", errno: code)
        }
        if renameat(fd, temporary, fd, name) != 0 {
            let failure = SystemError("rename \(temporary)")
            unlinkat(fd, temporary, 0)
            throw failure
        }
    }
}
