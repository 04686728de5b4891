// The value types StrictrunStacks hands out: frames, traces, options and counters.

/// One frame of a native stack, symbolized.
///
/// `offset` is the frame's address in the ELF file's own address space (`pc` minus the module's
/// load bias, computed from the file offset of the mapping and the file's `PT_LOAD` headers), so
/// `addr2line -e MODULE OFFSET` answers for it. `symbol` is bare (demangled, no `+0x1c`); the
/// distance from the symbol's start is `symbolOffset`.
public struct StackFrame: Sendable, Hashable, Codable {
    /// The program counter as unwound (a return address for every frame but the first).
    public var pc: UInt64
    /// The module's path, or `"[jit]"`, `"[vdso]"`, `"[anon]"`, `"[vsyscall]"`; nil when `pc`
    /// lies in no mapping at all.
    public var module: String?
    /// `pc` in the module's ELF address space (addr2line-compatible); nil for JIT / anonymous code.
    public var offset: UInt64?
    /// The demangled function name (ELF symbol table, or the perf map for JIT code).
    public var symbol: String?
    /// `pc` minus the start of `symbol`.
    public var symbolOffset: UInt64?
    /// Source file from DWARF line tables, when the module has them.
    public var file: String?
    /// Source line from DWARF line tables, when the module has them.
    public var line: Int?

    public init(pc: UInt64, module: String? = nil, offset: UInt64? = nil, symbol: String? = nil,
                symbolOffset: UInt64? = nil, file: String? = nil, line: Int? = nil) {
        self.pc = pc
        self.module = module
        self.offset = offset
        self.symbol = symbol
        self.symbolOffset = symbolOffset
        self.file = file
        self.line = line
    }
}

/// An unwound stack: the frames collected (innermost first) and, when the unwind stopped
/// early or could not start, why.
public struct StackTrace: Sendable, Hashable, Codable {
    /// Innermost frame first; at most `StackOptions.maxFrames`.
    public var frames: [StackFrame]
    /// Nil when the unwind reached the outermost frame (or the frame cap); otherwise what
    /// stopped it (libdw's message). The frames collected before the failure are kept.
    public var error: String?

    public init(frames: [StackFrame], error: String? = nil) {
        self.frames = frames
        self.error = error
    }
}

/// Tuning for `StackUnwinder`.
public struct StackOptions: Sendable, Hashable {
    /// The most frames one unwind collects.
    public var maxFrames: Int
    /// How many top frames a call-site id covers (see `callSite(of:count:)`).
    public var siteFrames: Int

    /// The on-disk symbol index cache's directory; nil: no cache (see `SymbolCacheDirectory`).
    public var symbolCacheDirectory: String?

    public init(maxFrames: Int = 64, siteFrames: Int = 5, symbolCacheDirectory: String? = nil) {
        self.maxFrames = max(1, maxFrames)
        self.siteFrames = max(1, siteFrames)
        self.symbolCacheDirectory = symbolCacheDirectory
    }
}

/// Counters of the work a `StackUnwinder` did, for benchmarks.
public struct UnwinderStats: Sendable, Hashable {
    /// Calls to `unwind(pid:tid:)`.
    public var unwinds = 0
    /// Frames returned by all unwinds.
    public var frames = 0
    /// Wall time spent in `unwind(pid:tid:)` (unwinding and symbolizing), in nanoseconds.
    public var unwindNanoseconds: UInt64 = 0
    /// Wall time of the most recent `unwind(pid:tid:)`, in nanoseconds.
    public var lastUnwindNanoseconds: UInt64 = 0
    /// Per-process libdw sessions created (`dwfl_begin` + `dwfl_linux_proc_attach`).
    public var sessionsCreated = 0
    /// `dwfl_linux_proc_report` calls (one per session, plus refreshes).
    public var moduleReports = 0
    /// Distinct ELF files (by path, device, inode, size, mtime) opened for symbols.
    public var modulesLoaded = 0
    /// Sorted symbol indexes built (at most one per distinct file).
    public var symbolIndexBuilds = 0
    /// Symbol indexes read from the on-disk cache instead (see `SymbolIndexCache`).
    public var symbolIndexesLoaded = 0
    /// Symbols held by all indexes built.
    public var symbolsIndexed = 0
    /// Time spent building symbol indexes, in nanoseconds.
    public var symbolIndexNanoseconds: UInt64 = 0
    /// Reads of `/proc/PID/maps`.
    public var mapRefreshes = 0
    /// Reads of `/tmp/perf-PID.map` (first read and incremental ones).
    public var perfMapReads = 0

    public init() {}
}
