// StackUnwinder: unwind a ptrace-stopped thread with libdw and symbolize every frame.

import CElfutils

/// Unwinds and symbolizes native stacks of traced threads.
///
/// Unwinding is libdw's (`dwfl_getthread_frames`: CFI, with its frame-pointer fallback).
/// Symbolization is ours, so that it is fast and right for JIT processes:
/// - /proc/PID/maps is read once per process (again only when a pc lies outside every known
///   mapping) and decides what a pc is: a file, the vDSO, or anonymous memory.
/// - For a file, the pc's file offset goes through the file's `PT_LOAD` headers to an ELF
///   address, looked up in a sorted symbol index built once per file for the unwinder's whole
///   life and shared by all processes and threads (`ModuleImage`). DWARF lines come from
///   `dwfl_module_getsrc`.
/// - Anonymous executable memory is `[jit]`, named from /tmp/perf-PID.map when it exists.
///
/// Not Sendable: it lives on the tracer thread that ptrace-attached the tasks, and every call
/// must come from that thread (libdw reads registers with PTRACE_GETREGS and memory with
/// PTRACE_PEEKDATA, which the kernel only answers for the attaching thread).
public final class StackUnwinder {
    /// The options this unwinder was made with.
    public let options: StackOptions

    private let callbacks = DwflCallbacks.live()
    private var processes: [Int32: ProcessState] = [:]
    private var images: [ImageKey: ModuleImage] = [:]
    private var counters = UnwinderStats()

    /// Work done so far; see `UnwinderStats`.
    public var stats: UnwinderStats { counters }

    /// Processes with live per-process state (libdw session, maps, perf map).
    public var trackedProcesses: Int { processes.count }

    /// The on-disk symbol cache (`options.symbolCacheDirectory`).
    private let symbolCache: SymbolIndexCache

    public init(options: StackOptions = .init()) {
        self.options = options
        symbolCache = SymbolIndexCache(directory: options.symbolCacheDirectory)
    }

    /// Unwind thread `tid` of process `pid` and symbolize the frames.
    ///
    /// The thread must already be ptrace-stopped by the calling thread; libdw is attached with
    /// `assume_ptrace_stopped`, so it neither attaches nor detaches, and the tracee stays
    /// stopped and traced. Never crashes on bad tracee memory: an unwind that fails part way
    /// returns the frames collected so far (at least the pc frame when the registers can be
    /// read) with `error` saying why it stopped.
    ///
    /// `maxFrames` overrides `options.maxFrames` for this call (a shallow unwind that only
    /// computes a call site).
    public func unwind(pid: Int32, tid: Int32, maxFrames: Int? = nil) -> StackTrace {
        let started = ContinuousClock.now
        let trace = unwindAndSymbolize(pid: pid, tid: tid, limit: maxFrames ?? options.maxFrames)
        let elapsed = (ContinuousClock.now - started).nanoseconds
        counters.unwinds += 1
        counters.frames += trace.frames.count
        counters.unwindNanoseconds &+= elapsed
        counters.lastUnwindNanoseconds = elapsed
        return trace
    }

    /// Drop everything kept for `pid` (libdw session, maps, perf map): call when the process
    /// exec'd a new image or exited. Per-file symbol indexes stay: other processes may map the
    /// same files.
    public func forget(pid: Int32) {
        processes.removeValue(forKey: pid)
    }

    /// Symbolize addresses of process `pid` as if they were frames (the first as the
    /// interrupted instruction, the others as return addresses). For tests and tools.
    func symbolize(pid: Int32, pcs: [UInt64]) -> [StackFrame]? {
        guard let state = try? processState(pid: pid) else { return nil }
        var pass = SymbolizePass()
        return pcs.enumerated().map { symbolize(RawFrame(pc: $1, isActivation: $0 == 0), in: state, pass: &pass) }
    }

    // MARK: - Unwinding

    private func processState(pid: Int32) throws(StackError) -> ProcessState {
        if let known = processes[pid] { return known }
        let state = try ProcessState(pid: pid, callbacks: callbacks, stats: &counters)
        processes[pid] = state
        counters.sessionsCreated += 1
        return state
    }

    private func unwindAndSymbolize(pid: Int32, tid: Int32, limit: Int) -> StackTrace {
        let state: ProcessState
        do {
            state = try processState(pid: pid)
        } catch {
            return StackTrace(frames: [], error: error.description)
        }

        var pass = SymbolizePass()
        var raw = state.session.frames(tid: tid, limit: limit)
        var frames = raw.frames.map { symbolize($0, in: state, pass: &pass) }
        if pass.modulesRefreshed {
            // A module appeared after the session's report (dlopen): libdw had no CFI for it
            // during this unwind. Unwind again now that it knows the module.
            raw = state.session.frames(tid: tid, limit: limit)
            frames = raw.frames.map { symbolize($0, in: state, pass: &pass) }
        }
        return StackTrace(frames: frames, error: raw.error)
    }

    /// Refreshes allowed once per unwind, so a pc that nothing explains costs one re-read,
    /// not one per frame.
    private struct SymbolizePass {
        var mapsRefreshed = false
        var modulesRefreshed = false
        var perfMapRefreshed = false
    }

    private func symbolize(_ raw: RawFrame, in state: ProcessState, pass: inout SymbolizePass) -> StackFrame {
        let pc = raw.pc
        // A return address points after the call; look up the call itself.
        let lookupPC = raw.isActivation || pc == 0 ? pc : pc &- 1
        var frame = StackFrame(pc: pc)
        guard var mapping = mapping(containing: lookupPC, in: state, pass: &pass) else { return frame }
        if mapping.kind != .file && mapping.kind != .vdso && !mapping.executable && !pass.mapsRefreshed {
            // Code in non-executable memory: our view may predate an mprotect. Look again.
            refreshMaps(state, pass: &pass)
            guard let fresh = state.maps.mapping(containing: lookupPC) else { return frame }
            mapping = fresh
        }

        switch mapping.kind {
        case .file, .vdso:
            frame.module = mapping.kind == .vdso ? "[vdso]" : mapping.path
            symbolizeImageFrame(&frame, lookupPC: lookupPC, mapping: mapping, state: state, pass: &pass)
        case .anonymous, .special:
            if mapping.path == "[vsyscall]" {
                frame.module = "[vsyscall]"
                return frame
            }
            // Executable anonymous memory is JIT code; a perf-map entry also marks code in a
            // page that is writable-not-executable right now (W^X flipping).
            let entry = jitEntry(lookupPC, state: state, pass: &pass)
            if mapping.executable || entry != nil {
                frame.module = "[jit]"
                if let entry {
                    frame.symbol = entry.name
                    frame.symbolOffset = pc &- entry.start
                }
            } else {
                frame.module = "[anon]"
            }
        }
        return frame
    }

    private func symbolizeImageFrame(_ frame: inout StackFrame, lookupPC: UInt64, mapping: Mapping,
                                     state: ProcessState, pass: inout SymbolizePass) {
        guard let resolved = resolve(mapping, lookupPC: lookupPC, state: state, pass: &pass),
              let image = resolved.image else { return }
        let address = image.address(forFileOffset: mapping.fileOffset(of: lookupPC)) ?? (lookupPC &- resolved.bias)
        let offset = address &+ (frame.pc &- lookupPC)
        frame.offset = offset
        if let symbols = image.symbols, let match = symbols.lookup(address) {
            frame.symbol = symbols.name(match.index)
            frame.symbolOffset = offset &- match.start
        }
        if let module = resolved.module, let source = image.sourceLine(at: address, module: module, bias: resolved.bias) {
            frame.file = source.file
            frame.line = source.line
        }
    }

    // MARK: - Per-process lookups

    private func mapping(containing address: UInt64, in state: ProcessState, pass: inout SymbolizePass) -> Mapping? {
        if let mapping = state.maps.mapping(containing: address) { return mapping }
        guard !pass.mapsRefreshed else { return nil }
        refreshMaps(state, pass: &pass)
        return state.maps.mapping(containing: address)
    }

    private func refreshMaps(_ state: ProcessState, pass: inout SymbolizePass) {
        pass.mapsRefreshed = true
        counters.mapRefreshes += 1
        if let maps = try? ProcessMaps.live(pid: state.pid) { state.maps = maps }
    }

    private func jitEntry(_ address: UInt64, state: ProcessState, pass: inout SymbolizePass) -> PerfMap.Entry? {
        if state.perfMap == nil {
            state.perfMap = PerfMap(pid: state.pid)
            state.perfMap!.refresh()
            counters.perfMapReads += 1
            pass.perfMapRefreshed = true
        }
        if let entry = state.perfMap!.lookup(address) { return entry }
        guard !pass.perfMapRefreshed else { return nil }
        // The JIT appends as it compiles: read what was written since last time.
        pass.perfMapRefreshed = true
        counters.perfMapReads += 1
        guard state.perfMap!.refresh() > 0 else { return nil }
        return state.perfMap!.lookup(address)
    }

    /// The libdw module and shared image for a file (or vDSO) mapping, cached per process.
    private func resolve(_ mapping: Mapping, lookupPC: UInt64, state: ProcessState,
                         pass: inout SymbolizePass) -> ResolvedModule? {
        let identity = MappingIdentity(mapping)
        if let known = state.resolved[identity] { return known }

        var module = mapping.kind == .vdso ? state.session.module(containing: lookupPC)
                                           : state.session.module(named: mapping.path)
        if module == nil && !pass.modulesRefreshed && !mapping.deleted {
            // Mapped after the session's report (dlopen): report the modules again.
            pass.modulesRefreshed = true
            state.resolved.removeAll()
            try? state.session.report(stats: &counters)
            module = mapping.kind == .vdso ? state.session.module(containing: lookupPC)
                                           : state.session.module(named: mapping.path)
        }
        var resolved = ResolvedModule(module: nil, image: nil, bias: 0)
        var bias: GElf_Addr = 0
        if let module, dwfl_module_getelf(module, &bias) != nil {
            let key: ImageKey
            if mapping.kind == .vdso {
                key = ImageKey(path: "[vdso]" + buildID(module), stat: nil)
            } else {
                key = ImageKey(path: mapping.path, stat: SystemCalls.fileStat(mapping.path))
            }
            let image: ModuleImage
            if let known = images[key] {
                image = known
            } else {
                image = ModuleImage(key: key, module: module, cache: symbolCache, stats: &counters)
                images[key] = image
            }
            resolved = ResolvedModule(module: module, image: image, bias: bias)
        }
        state.resolved[identity] = resolved
        return resolved
    }

    /// The module's GNU build id in hex (`dwfl_module_build_id`), or "" when it has none.
    private func buildID(_ module: OpaquePointer) -> String {
        var bits: UnsafePointer<UInt8>?
        var vaddr: GElf_Addr = 0
        let length = dwfl_module_build_id(module, &bits, &vaddr)
        guard length > 0, let bits else { return "" }
        return (0..<Int(length)).map { hexByte(bits[$0]) }.joined()
    }
}

@available(*, unavailable, message: "StackUnwinder must stay on the tracer thread")
extension StackUnwinder: Sendable {}

/// What the unwinder keeps per process. Dropped by `forget(pid:)`.
final class ProcessState {
    let pid: Int32
    let session: DwflSession
    var maps: ProcessMaps
    var perfMap: PerfMap?
    var resolved: [MappingIdentity: ResolvedModule] = [:]

    init(pid: Int32, callbacks: DwflCallbacks, stats: inout UnwinderStats) throws(StackError) {
        self.pid = pid
        session = try DwflSession.open(pid: pid, callbacks: callbacks, stats: &stats)
        maps = try ProcessMaps.live(pid: pid)
        stats.mapRefreshes += 1
    }
}

/// A file mapping's identity within one process.
struct MappingIdentity: Hashable {
    var path: String
    var deviceMajor: UInt32
    var deviceMinor: UInt32
    var inode: UInt64
    var isVDSO: Bool

    init(_ mapping: Mapping) {
        path = mapping.path
        deviceMajor = mapping.deviceMajor
        deviceMinor = mapping.deviceMinor
        inode = mapping.inode
        isVDSO = mapping.kind == .vdso
    }
}

/// A mapping's libdw module in one process (nil when libdw could not open it) and the
/// shared image.
struct ResolvedModule {
    var module: OpaquePointer?
    var image: ModuleImage?
    var bias: UInt64
}

func hexByte(_ byte: UInt8) -> String {
    let digits: [Character] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "b", "c", "d", "e", "f"]
    return String([digits[Int(byte >> 4)], digits[Int(byte & 0xf)]])
}
