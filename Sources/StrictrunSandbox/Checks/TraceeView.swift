import StrictrunSystem

/// What a check may look at besides the stop: the program's memory and its /proc entries, and
/// the host's files. Behind a protocol so checks are tested with synthetic stops and no tracee.
protocol TraceeView {
    /// Up to `count` bytes of the memory of `tid` at `address`.
    func read(_ tid: ProcessID, at address: UInt64, count: Int) -> [UInt8]
    /// /proc/PID/maps.
    func maps(_ pid: ProcessID) -> MemoryMaps?
    /// What the mappings over a range are (`MemoryMaps.region`), asked as cheaply as the kernel
    /// allows; nil when the mappings cannot be read.
    func region(_ pid: ProcessID, start: UInt64, length: UInt64) -> (allExecutable: Bool, shared: Bool)?
    /// The start addresses of the mappings of `file` that allow all of `required` (a shared
    /// writable one, an executable one), asked as cheaply as the kernel allows; nil when the
    /// mappings cannot be read. By default from `maps`.
    func mappings(_ pid: ProcessID, of file: FileIdentity, allowing required: MemoryMaps.Permissions) -> [UInt64]?
    /// readlink(2) (`/proc/PID/cwd`, `/proc/PID/fd/N`).
    func readLink(_ path: [UInt8]) -> [UInt8]?
    /// realpath(3); nil when the path does not exist.
    func realPath(_ path: [UInt8]) -> [UInt8]?
    /// statfs(2)'s f_type.
    func fileSystemType(_ path: [UInt8]) -> Int?
    /// access(F_OK).
    func exists(_ path: [UInt8]) -> Bool
    /// The device and inode of `path` (as strictrun resolves it; `/proc/PID/root/…` for the
    /// program's own root).
    func identity(_ path: [UInt8], follow: Bool) -> FileIdentity?
    /// The thread group of a task.
    func threadGroup(of tid: ProcessID) -> ProcessID?
    /// The process group of a process.
    func processGroup(of pid: ProcessID) -> ProcessID?
    /// The process a descriptor of `pid` stands for (a pidfd, a /proc/N directory).
    func processOfDescriptor(pid: ProcessID, fd: Int32) -> ProcessID?
    /// The size of a System V shared memory segment.
    func sharedMemorySize(id: Int32) -> UInt64?
    /// A process's open descriptors that reach `file`: file and write access.
    func descriptors(_ pid: ProcessID, of file: FileIdentity) -> [OpenDescriptor]
    /// The file one descriptor reaches.
    func descriptorFile(_ pid: ProcessID, fd: Int32) -> FileIdentity?
    /// A memfd descriptor's seals (nil: none readable).
    func seals(_ pid: ProcessID, fd: Int32) -> Int32?
    /// The file an open of `path` by thread `tid` would reach (absolute: under its root; relative:
    /// from its cwd or `dirfd`), read when it is a regular file of at most `limit` bytes whose first
    /// bytes `wanted` accepts (`FileContents`: no magic links, nothing but regular files opened).
    func fileForOpen(_ path: [UInt8], dirfd: Int32, tid: ProcessID, followLast: Bool, limit: Int,
                     wanted: ([UInt8]) -> Bool) -> FileRead
    /// The file behind descriptor `fd` of thread `tid`, read likewise.
    func descriptorContents(_ tid: ProcessID, fd: Int32, limit: Int, wanted: ([UInt8]) -> Bool) -> FileRead
}

extension TraceeView {
    /// The memory of one thread, as a `MemoryReading`.
    func memory(_ tid: ProcessID) -> ViewMemory { ViewMemory(view: self, tid: tid) }

    func mappings(_ pid: ProcessID, of file: FileIdentity, allowing required: MemoryMaps.Permissions) -> [UInt64]? {
        maps(pid)?.mappings(of: file, allowing: required)
    }
}


/// One thread's memory seen through a `TraceeView`.
struct ViewMemory: MemoryReading {
    let view: any TraceeView
    let tid: ProcessID
    func read(at address: UInt64, count: Int) -> [UInt8] { view.read(tid, at: address, count: count) }
}

/// The real view: process_vm_readv and /proc.
struct LiveTracee: TraceeView {
    func read(_ tid: ProcessID, at address: UInt64, count: Int) -> [UInt8] {
        TraceeMemory(pid: tid).read(at: address, count: count)
    }
    func maps(_ pid: ProcessID) -> MemoryMaps? { MemoryMaps.read(pid: pid) }
    func region(_ pid: ProcessID, start: UInt64, length: UInt64) -> (allExecutable: Bool, shared: Bool)? {
        MemoryMaps.queryRegion(pid: pid, start: start, length: length)
            ?? MemoryMaps.read(pid: pid)?.region(start: start, length: length)
    }
    func mappings(_ pid: ProcessID, of file: FileIdentity, allowing required: MemoryMaps.Permissions) -> [UInt64]? {
        MemoryMaps.queryFileMappings(pid: pid, of: file, allowing: required)
            ?? MemoryMaps.read(pid: pid)?.mappings(of: file, allowing: required)
    }
    func readLink(_ path: [UInt8]) -> [UInt8]? { ProcFS.readLink(path) }
    func realPath(_ path: [UInt8]) -> [UInt8]? { ProcFS.realPath(path) }
    func fileSystemType(_ path: [UInt8]) -> Int? { ProcFS.fileSystemType(path) }
    func exists(_ path: [UInt8]) -> Bool { ProcFS.exists(path) }
    func identity(_ path: [UInt8], follow: Bool) -> FileIdentity? { ProcFS.identity(path, follow: follow) }
    func threadGroup(of tid: ProcessID) -> ProcessID? { ProcFS.threadGroup(of: tid) }
    func processGroup(of pid: ProcessID) -> ProcessID? { ProcFS.processGroup(of: pid) }
    func processOfDescriptor(pid: ProcessID, fd: Int32) -> ProcessID? { ProcFS.processOfDescriptor(pid: pid, fd: fd) }
    func sharedMemorySize(id: Int32) -> UInt64? { ProcFS.sharedMemorySize(id: id) }
    func descriptors(_ pid: ProcessID, of file: FileIdentity) -> [OpenDescriptor] { ProcFS.descriptors(pid: pid, of: file) }
    func descriptorFile(_ pid: ProcessID, fd: Int32) -> FileIdentity? {
        ProcFS.identity(Array("/proc/\(pid)/fd/\(fd)".utf8), follow: true)
    }
    func seals(_ pid: ProcessID, fd: Int32) -> Int32? { ProcFS.seals(pid: pid, fd: fd) }
    func fileForOpen(_ path: [UInt8], dirfd: Int32, tid: ProcessID, followLast: Bool, limit: Int,
                     wanted: ([UInt8]) -> Bool) -> FileRead {
        FileContents.read(path, root: Array("/proc/\(tid)/root".utf8), directory: PathBytes.base(dirfd: dirfd, pid: tid),
                          followLast: followLast, limit: limit, wanted: wanted)
    }
    func descriptorContents(_ tid: ProcessID, fd: Int32, limit: Int, wanted: ([UInt8]) -> Bool) -> FileRead {
        FileContents.read(link: Array("/proc/\(tid)/fd/\(fd)".utf8), limit: limit, wanted: wanted)
    }
}

/// A tracee's paths made absolute as the program sees them.
extension PathBytes {
    /// The directory `dirfd` names for a process (its cwd for AT_FDCWD), as a /proc link.
    static func base(dirfd: Int32, pid: ProcessID) -> [UInt8] {
        Array((dirfd == atCurrentDirectory ? "/proc/\(pid)/cwd" : "/proc/\(pid)/fd/\(dirfd)").utf8)
    }


    /// `path` made absolute against the process's cwd or `dirfd` as the program sees them, and
    /// normalized lexically (what the fs view's rules compare).
    static func absolute(_ path: [UInt8], dirfd: Int32, pid: ProcessID, tracee: some TraceeView) -> [UInt8] {
        guard !isAbsolute(path) else { return normalized(path) }
        return normalized(joined(tracee.readLink(base(dirfd: dirfd, pid: pid)) ?? [slash], path))
    }

    /// `path` as the process itself resolves it, through /proc: under its own root (chroot and
    /// mount namespace included) when absolute, under its cwd or `dirfd` otherwise.
    static func inOwnRoot(_ path: [UInt8], dirfd: Int32, pid: ProcessID) -> [UInt8] {
        isAbsolute(path) ? Array("/proc/\(pid)/root".utf8) + path : joined(base(dirfd: dirfd, pid: pid), path)
    }

    /// The real path an open-like call names (symlinks resolved), `/proc/self` and
    /// `/proc/thread-self` taken as the calling thread's: which file it would open.
    static func opened(_ path: [UInt8], dirfd: Int32, tid: ProcessID, tgid: ProcessID, view: some TraceeView) -> [UInt8] {
        var absolute = path
        if !isAbsolute(path) {
            let directory = base(dirfd: dirfd, pid: tgid)
            absolute = joined(view.realPath(directory) ?? directory, path)
        }
        for alias in ["/proc/self/", "/proc/thread-self/"] where absolute.starts(with: alias.utf8) {
            absolute = Array("/proc/\(tid)/".utf8) + absolute.dropFirst(alias.utf8.count)
        }
        return view.realPath(absolute) ?? absolute
    }
}
