// Thin wrappers over libdw's live-process API (libdwfl): one Dwfl per traced process.
#if canImport(Glibc)
import Glibc
#endif
import CElfutils

/// The `Dwfl_Callbacks` a Dwfl points at. libdw keeps the pointer, so the storage must
/// outlive every Dwfl made with it: each `DwflSession` holds a reference.
final class DwflCallbacks {
    let pointer: UnsafeMutablePointer<Dwfl_Callbacks>

    /// For live processes: `dwfl_linux_proc_find_elf` + `findLocalDebuginfo`.
    static func live() -> DwflCallbacks {
        DwflCallbacks(Dwfl_Callbacks(find_elf: dwfl_linux_proc_find_elf,
                                     find_debuginfo: findLocalDebuginfo,
                                     section_address: nil, debuginfo_path: nil))
    }

    /// For ELF files outside any process: `dwfl_build_id_find_elf` + `findLocalDebuginfo` +
    /// `dwfl_offline_section_address`.
    static func offline() -> DwflCallbacks {
        DwflCallbacks(Dwfl_Callbacks(find_elf: dwfl_build_id_find_elf,
                                     find_debuginfo: findLocalDebuginfo,
                                     section_address: dwfl_offline_section_address, debuginfo_path: nil))
    }

    private init(_ callbacks: Dwfl_Callbacks) {
        pointer = .allocate(capacity: 1)
        pointer.initialize(to: callbacks)
    }

    deinit {
        pointer.deinitialize(count: 1)
        pointer.deallocate()
    }
}

/// `dwfl_standard_find_debuginfo` when a separate debug file exists on this machine, else "none".
///
/// elfutils 0.188 (Debian 12) answers a module without one by first `dlopen`ing libdebuginfod,
/// whose dependencies (libcurl, GnuTLS, Kerberos, … about 20 libraries) took 5–7 ms on the
/// tracer thread at the first stack of a stripped program — even with `DEBUGINFOD_URLS` unset,
/// as strictrun keeps it (the tracer never waits on the network). The places looked at are
/// libdw's own: `/usr/lib/debug/.build-id/xx/rest.debug` by build id, and the
/// `.gnu_debuglink` name next to the file, in its `.debug/`, and under `/usr/lib/debug`.
let findLocalDebuginfo: @convention(c) (
    OpaquePointer?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?, UnsafePointer<CChar>?, Dwarf_Addr,
    UnsafePointer<CChar>?, UnsafePointer<CChar>?, GElf_Word, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> Int32 = { module, userdata, name, base, file, debuglink, crc, found in
    var candidates: [String] = []
    var bits: UnsafePointer<UInt8>?
    var vaddr: GElf_Addr = 0
    if let module, case let length = dwfl_module_build_id(module, &bits, &vaddr), length > 1, let bits {
        let hex = (0..<Int(length)).map { hexByte(bits[$0]) }
        candidates.append("/usr/lib/debug/.build-id/\(hex[0])/\(hex.dropFirst().joined()).debug")
    }
    if let debuglink, let file {
        let link = String(cString: debuglink), path = String(cString: file)
        let directory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        candidates += ["\(directory)/\(link)", "\(directory)/.debug/\(link)", "/usr/lib/debug\(directory)/\(link)"]
    }
    // The file itself is not its own debug file (a debuglink naming the file's own name).
    let own = file.map { String(cString: $0) }
    guard candidates.contains(where: { $0 != own && access($0, R_OK) == 0 }) else { return -1 }
    return dwfl_standard_find_debuginfo(module, userdata, name, base, file, debuglink, crc, found)
}

/// libdw's message for its most recent error on this thread (`dwfl_errno` + `dwfl_errmsg`),
/// nil when libdw recorded none.
func dwflLastError() -> String? {
    let code = dwfl_errno()
    guard code != 0, let message = dwfl_errmsg(code) else { return nil }
    return String(cString: message)
}

/// `dwflLastError()`, or a generic text when libdw recorded nothing.
func dwflErrorMessage() -> String {
    dwflLastError() ?? "unknown libdw error"
}

/// One frame as libdw unwound it.
struct RawFrame: Hashable {
    var pc: UInt64
    /// True for the interrupted instruction itself (first frame, signal frames); false for a
    /// return address, which is looked up at `pc - 1` so it lands inside the call.
    var isActivation: Bool
}

/// A libdw session for one traced process: the modules it maps (`dwfl_linux_proc_report`) and
/// its threads' register state (`dwfl_linux_proc_attach` with `assume_ptrace_stopped`, so
/// libdw neither attaches nor detaches: the caller's tracer thread owns the ptrace relation).
/// Used only from the tracer thread.
final class DwflSession {
    let pid: Int32
    let dwfl: OpaquePointer
    private let callbacks: DwflCallbacks
    private var modulesByName: [String: OpaquePointer] = [:]

    private init(pid: Int32, dwfl: OpaquePointer, callbacks: DwflCallbacks) {
        self.pid = pid
        self.dwfl = dwfl
        self.callbacks = callbacks
    }

    deinit {
        dwfl_end(dwfl)
    }

    /// `dwfl_begin`, then `report`, then `dwfl_linux_proc_attach(dwfl, pid, true)`.
    static func open(pid: Int32, callbacks: DwflCallbacks, stats: inout UnwinderStats) throws(StackError) -> DwflSession {
        guard let dwfl = dwfl_begin(callbacks.pointer) else {
            throw .libdw(operation: "dwfl_begin", message: dwflErrorMessage())
        }
        let session = DwflSession(pid: pid, dwfl: dwfl, callbacks: callbacks)  // owns dwfl from here
        try session.report(stats: &stats)
        let rc = dwfl_linux_proc_attach(dwfl, pid, true)
        if rc > 0 { throw .system(operation: "dwfl_linux_proc_attach", subject: "pid \(pid)", errno: rc) }
        if rc < 0 { throw .libdw(operation: "dwfl_linux_proc_attach(\(pid))", message: dwflErrorMessage()) }
        return session
    }

    /// (Re)read the process's modules from /proc/PID/maps: `dwfl_report_begin`,
    /// `dwfl_linux_proc_report`, `dwfl_report_end`. Modules reported again keep their loaded
    /// ELF and CFI; ones no longer mapped are dropped.
    func report(stats: inout UnwinderStats) throws(StackError) {
        dwfl_report_begin(dwfl)
        let rc = dwfl_linux_proc_report(dwfl, pid)
        let message = rc < 0 ? dwflErrorMessage() : ""
        let endRc = dwfl_report_end(dwfl, nil, nil)
        stats.moduleReports += 1
        if rc > 0 { throw .system(operation: "dwfl_linux_proc_report", subject: "pid \(pid)", errno: rc) }
        if rc < 0 { throw .libdw(operation: "dwfl_linux_proc_report(\(pid))", message: message) }
        if endRc != 0 { throw .libdw(operation: "dwfl_report_end", message: dwflErrorMessage()) }
        reindexModules()
    }

    /// The module libdw reported under `name` (the path column of /proc/PID/maps).
    func module(named name: String) -> OpaquePointer? {
        modulesByName[name]
    }

    /// The module whose address range holds `address` (`dwfl_addrmodule`).
    func module(containing address: UInt64) -> OpaquePointer? {
        dwfl_addrmodule(dwfl, address)
    }

    /// Unwind thread `tid` (`dwfl_getthread_frames`, reading each frame with `dwfl_frame_pc`).
    /// The thread must be ptrace-stopped by the calling thread. Returns the frames collected
    /// and, when libdw stopped before the outermost frame, its error message.
    func frames(tid: Int32, limit: Int) -> (frames: [RawFrame], error: String?) {
        _ = dwfl_errno()  // clear a stale error
        let collector = FrameCollector(limit: limit)
        let rc = withExtendedLifetime(collector) {
            dwfl_getthread_frames(dwfl, tid, { state, argument in
                guard let state, let argument else { return Int32(DWARF_CB_ABORT) }
                let collector = Unmanaged<FrameCollector>.fromOpaque(argument).takeUnretainedValue()
                var pc: Dwarf_Addr = 0
                var isActivation = false
                guard dwfl_frame_pc(state, &pc, &isActivation) else {
                    collector.failure = "dwfl_frame_pc: \(dwflErrorMessage())"
                    return Int32(DWARF_CB_ABORT)
                }
                collector.frames.append(RawFrame(pc: pc, isActivation: isActivation))
                return collector.frames.count >= collector.limit ? Int32(DWARF_CB_ABORT) : Int32(DWARF_CB_OK)
            }, Unmanaged.passUnretained(collector).toOpaque())
        }
        if let failure = collector.failure { return (collector.frames, failure) }
        if rc < 0 {
            let cause = dwflLastError()
            if collector.frames.isEmpty {
                // libdw reads the registers with PTRACE_GETREGS and does not always record why
                // that failed.
                return ([], "no frames for thread \(tid): "
                    + (cause ?? "cannot read its registers (is it ptrace-stopped by this thread?)"))
            }
            return (collector.frames,
                    "unwind stopped after \(collector.frames.count) frame(s): \(cause ?? "unknown libdw error")")
        }
        return (collector.frames, nil)
    }

    private func reindexModules() {
        let box = ModuleList()
        _ = withExtendedLifetime(box) {
            dwfl_getmodules(dwfl, { module, _, name, _, argument in
                guard let module, let name, let argument else { return Int32(DWARF_CB_OK) }
                let box = Unmanaged<ModuleList>.fromOpaque(argument).takeUnretainedValue()
                box.modules[String(cString: name)] = module
                return Int32(DWARF_CB_OK)
            }, Unmanaged.passUnretained(box).toOpaque(), 0)
        }
        modulesByName = box.modules
    }
}

private final class FrameCollector {
    let limit: Int
    var frames: [RawFrame] = []
    var failure: String?

    init(limit: Int) {
        self.limit = limit
        frames.reserveCapacity(min(limit, 128))
    }
}

private final class ModuleList {
    var modules: [String: OpaquePointer] = [:]
}

/// One ELF file opened outside any process (`dwfl_report_elf` at base 0), for tools and tests.
final class OfflineModule {
    private let callbacks = DwflCallbacks.offline()
    private let dwfl: OpaquePointer
    let module: OpaquePointer

    init?(path: String) {
        guard let dwfl = dwfl_begin(callbacks.pointer) else { return nil }
        dwfl_report_begin(dwfl)
        let module = dwfl_report_elf(dwfl, path, path, -1, 0, false)
        guard dwfl_report_end(dwfl, nil, nil) == 0, let module else {
            dwfl_end(dwfl)
            return nil
        }
        self.dwfl = dwfl
        self.module = module
    }

    deinit {
        dwfl_end(dwfl)
    }
}
