/// How one argument of a call is shown in the trace (strace's `syscallent.h` argument types).
public enum ArgumentKind: Sendable, Hashable {
    /// An address or opaque value: `0x…`.
    case hex
    /// A size or count, unsigned.
    case uint
    /// A file descriptor, pid, uid, command: the low 32 bits, signed.
    case int32
    /// The low 32 bits, unsigned (a protocol number).
    case uint32
    /// A directory descriptor: `AT_FDCWD` or the number.
    case dirfd
    /// A NUL-terminated path (or name) in the program's memory, as bytes.
    case path
    /// A NULL-terminated array of string pointers (argv).
    case pathArray
    /// `PROT_*` bits.
    case prot
    /// `MAP_*` type and modifiers.
    case mapFlags
    /// `CLONE_*` bits.
    case cloneFlags
    /// Permission bits, octal (`0644`).
    case mode
    /// A whole `st_mode`, octal (type and permissions).
    case fileMode
    /// `AF_*`.
    case addressFamily
    /// `SOCK_*` type and flags.
    case socketType
    /// `SOL_*` / `IPPROTO_*` level of a socket option.
    case socketLevel
    /// The option name, read with the level in argument `levelArgument`.
    case socketOption(levelArgument: Int)
    /// A `struct sockaddr` in memory, its length in argument `lengthArgument`.
    case sockaddr(lengthArgument: Int)
}

/// One decoded argument of a call: its register index, name and kind.
public struct ArgumentSpec: Sendable, Hashable {
    public var index: Int
    public var name: String
    public var kind: ArgumentKind

    public init(_ index: Int, _ name: String, _ kind: ArgumentKind) {
        self.index = index
        self.name = name
        self.kind = kind
    }
}

/// The arguments strictrun decodes by name, per call (names as in the man pages). A call that
/// is not listed is shown as `arg0`…`arg5` in hex.
public enum SyscallSignatures {
    private typealias A = ArgumentSpec

    public static func arguments(of name: String) -> [ArgumentSpec]? { table[name] }

    private static let memory: [String: [ArgumentSpec]] = [
        "mmap": [A(0, "addr", .hex), A(1, "length", .uint), A(2, "prot", .prot), A(3, "flags", .mapFlags),
                 A(4, "fd", .int32), A(5, "offset", .uint)],
        "mprotect": [A(0, "addr", .hex), A(1, "length", .uint), A(2, "prot", .prot)],
        "pkey_mprotect": [A(0, "addr", .hex), A(1, "length", .uint), A(2, "prot", .prot), A(3, "pkey", .int32)],
        "munmap": [A(0, "addr", .hex), A(1, "length", .uint)],
        "mremap": [A(0, "old_addr", .hex), A(1, "old_size", .uint), A(2, "new_size", .uint), A(3, "flags", .hex),
                   A(4, "new_addr", .hex)],
        "clone": [A(0, "flags", .cloneFlags), A(1, "stack", .hex)],
        "fork": [], "vfork": [],
        "execve": [A(0, "path", .path), A(1, "argv", .pathArray)],
        "execveat": [A(0, "dirfd", .int32), A(1, "path", .path), A(2, "argv", .pathArray), A(4, "flags", .hex)],
        "memfd_create": [A(0, "name", .path), A(1, "flags", .hex)],
        "seccomp": [A(0, "operation", .uint32), A(1, "flags", .hex), A(2, "args", .hex)],
        "prctl": [A(0, "option", .int32), A(1, "arg2", .hex), A(2, "arg3", .hex)],
        "personality": [A(0, "persona", .hex)],
        "userfaultfd": [A(0, "flags", .hex)],
        "kill": [A(0, "pid", .int32), A(1, "signal", .int32)],
        "tkill": [A(0, "tid", .int32), A(1, "signal", .int32)],
        "tgkill": [A(0, "tgid", .int32), A(1, "tid", .int32), A(2, "signal", .int32)],
        "pidfd_open": [A(0, "pid", .int32), A(1, "flags", .hex)],
    ]

    private static let files: [String: [ArgumentSpec]] = [
        "open": [A(0, "path", .path), A(1, "flags", .hex), A(2, "mode", .mode)],
        "creat": [A(0, "path", .path), A(1, "mode", .mode)],
        "openat": [A(0, "dirfd", .dirfd), A(1, "path", .path), A(2, "flags", .hex), A(3, "mode", .mode)],
        "openat2": [A(0, "dirfd", .dirfd), A(1, "path", .path), A(2, "how", .hex)],
        "symlink": [A(0, "target", .path), A(1, "new", .path)],
        "link": [A(0, "old", .path), A(1, "new", .path)],
        "rename": [A(0, "old", .path), A(1, "new", .path)],
        "symlinkat": [A(0, "target", .path), A(1, "newdirfd", .dirfd), A(2, "new", .path)],
        "linkat": [A(0, "olddirfd", .dirfd), A(1, "old", .path), A(2, "newdirfd", .dirfd), A(3, "new", .path)],
        "renameat": [A(0, "olddirfd", .dirfd), A(1, "old", .path), A(2, "newdirfd", .dirfd), A(3, "new", .path)],
        "renameat2": [A(0, "olddirfd", .dirfd), A(1, "old", .path), A(2, "newdirfd", .dirfd), A(3, "new", .path)],
        "readlink": [A(0, "path", .path)], "unlink": [A(0, "path", .path)], "rmdir": [A(0, "path", .path)],
        "chdir": [A(0, "path", .path)], "stat": [A(0, "path", .path)], "lstat": [A(0, "path", .path)],
        "readlinkat": [A(0, "dirfd", .dirfd), A(1, "path", .path)],
        "newfstatat": [A(0, "dirfd", .dirfd), A(1, "path", .path)],
        "statx": [A(0, "dirfd", .dirfd), A(1, "path", .path)],
        "unlinkat": [A(0, "dirfd", .dirfd), A(1, "path", .path)],
        "mkdir": [A(0, "path", .path), A(1, "mode", .mode)],
        "chmod": [A(0, "path", .path), A(1, "mode", .mode)],
        "access": [A(0, "path", .path), A(1, "mode", .mode)],
        "mkdirat": [A(0, "dirfd", .dirfd), A(1, "path", .path), A(2, "mode", .mode)],
        "fchmodat": [A(0, "dirfd", .dirfd), A(1, "path", .path), A(2, "mode", .mode)],
        "fchmodat2": [A(0, "dirfd", .dirfd), A(1, "path", .path), A(2, "mode", .mode)],
        "faccessat": [A(0, "dirfd", .dirfd), A(1, "path", .path), A(2, "mode", .mode)],
        "faccessat2": [A(0, "dirfd", .dirfd), A(1, "path", .path), A(2, "mode", .mode)],
        "fchmod": [A(0, "fd", .int32), A(1, "mode", .mode)],
        "chown": [A(0, "path", .path), A(1, "uid", .int32), A(2, "gid", .int32)],
        "lchown": [A(0, "path", .path), A(1, "uid", .int32), A(2, "gid", .int32)],
        "fchown": [A(0, "fd", .int32), A(1, "uid", .int32), A(2, "gid", .int32)],
        "fchownat": [A(0, "dirfd", .dirfd), A(1, "path", .path), A(2, "uid", .int32), A(3, "gid", .int32)],
        "mknod": [A(0, "path", .path), A(1, "mode", .fileMode)],
        "mknodat": [A(0, "dirfd", .dirfd), A(1, "path", .path), A(2, "mode", .fileMode)],
        "truncate": [A(0, "path", .path), A(1, "length", .uint)],
        "flock": [A(0, "fd", .int32), A(1, "operation", .hex)],
        "fcntl": [A(0, "fd", .int32), A(1, "cmd", .int32)],
        "inotify_init": [],
        "inotify_init1": [A(0, "flags", .hex)],
        "inotify_add_watch": [A(0, "fd", .int32), A(1, "path", .path), A(2, "mask", .hex)],
        "fanotify_init": [A(0, "flags", .hex), A(1, "event_f_flags", .hex)],
    ]

    private static let sockets: [String: [ArgumentSpec]] = [
        "socket": [A(0, "domain", .addressFamily), A(1, "type", .socketType), A(2, "protocol", .uint32)],
        "socketpair": [A(0, "domain", .addressFamily), A(1, "type", .socketType), A(2, "protocol", .uint32)],
        "setsockopt": [A(0, "fd", .int32), A(1, "level", .socketLevel), A(2, "option", .socketOption(levelArgument: 1))],
        "bind": [A(0, "fd", .int32), A(1, "address", .sockaddr(lengthArgument: 2))],
        "connect": [A(0, "fd", .int32), A(1, "address", .sockaddr(lengthArgument: 2))],
    ]

    private static let table: [String: [ArgumentSpec]] = {
        var all = memory.merging(files) { first, _ in first }.merging(sockets) { first, _ in first }
        all["mmap2"] = memory["mmap"]  // i386's mmap, in pages: decoded alike
        return all
    }()
}
