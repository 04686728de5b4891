import StrictrunPolicy
import StrictrunSystem
import StrictrunTrace

/// W+X by alias: memory that is executable in one view and writable through another path — a
/// file, a `/dev/shm` object or a memfd mapped once `MAP_SHARED` writable and once executable, or
/// mapped executable while the process holds a descriptor that can write it (pages not yet faulted
/// see what `write(2)` puts there). Judged at each side: an executable file mapping (mmap,
/// mprotect) asks whether the object can still be written; a writable shared mapping or a write
/// open asks whether it is mapped executable. An object that cannot be written any more passes: a
/// memfd sealed with `F_SEAL_WRITE`/`F_SEAL_FUTURE_WRITE`, a file without a writer. Denied under
/// every W^X level (`wx/wx-alias`); under emulation logged instead, so the report names the
/// dual-mapping JITs the port must carry.
struct WXAliasCheck {
    /// The rule (nil: W^X is off).
    let rule: CompiledRule?
    /// The files each process has asked to map executable, so that a write open of any other file
    /// needs no look at the mappings (nil: always look).
    var known: ExecutableFiles? = nil

    static let sealWrite: Int32 = 0x0008, sealFutureWrite: Int32 = 0x0010

    /// A rule-sent mmap (either side) or mprotect(PROT_EXEC).
    func decide(_ stop: SyscallStop, view: some TraceeView) -> Decision? {
        let args = stop.args
        if stop.number == SyscallNumber.mmap {
            guard args[3] & Xlat.mapAnonymous == 0 else { return nil }
            let fd = Int32(truncatingIfNeeded: args[4])
            guard let file = view.descriptorFile(stop.tgid, fd: fd) else { return nil }
            if args[2] & Xlat.protExec != 0 { return executable(stop, file: file, view: view) }
            if args[2] & Xlat.protWrite != 0 && args[3] & Xlat.mapShared != 0 { return writable(stop, file: file, view: view) }
            return nil
        }
        guard [SyscallNumber.mprotect, SyscallNumber.pkeyMprotect].contains(stop.number), args[2] & Xlat.protExec != 0,
              let maps = view.maps(stop.tgid), let file = maps.mappings.first(where: { $0.contains(args[0]) })?.file
        else { return nil }
        return executable(stop, file: file, view: view, maps: maps)
    }

    /// `file` is to become executable: refused when this process, or any other process under the
    /// tracer, can still write it (a shared writable mapping, a descriptor without a write seal).
    /// `maps`: the process's mappings when the caller has read them already.
    func executable(_ stop: SyscallStop, file: FileIdentity, view: some TraceeView, maps: MemoryMaps? = nil) -> Decision? {
        guard let rule else { return nil }
        known?.note(file, in: stop.tgid)
        let others = known?.processes(besides: stop.tgid) ?? []
        for process in [stop.tgid] + others {
            let sharedWritable: MemoryMaps.Permissions = [.writable, .shared]
            let sharedWriters = process == stop.tgid && maps != nil
                ? maps?.mappings(of: file, allowing: sharedWritable) : view.mappings(process, of: file, allowing: sharedWritable)
            let whose = process == stop.tgid ? "" : " in process \(process)"
            if let writer = sharedWriters?.first {
                return refuse(rule, stop, "the object is also mapped shared and writable\(whose) at 0x\(String(writer, radix: 16))")
            }
            let writers = view.descriptors(process, of: file).filter(\.writable)
            if let writer = writers.first(where: { descriptor in
                let seals = view.seals(process, fd: descriptor.fd) ?? 0
                return seals & (Self.sealWrite | Self.sealFutureWrite) == 0
            }) {
                return refuse(rule, stop, "descriptor \(writer.fd)\(whose) can still write the object (no write seal)")
            }
        }
        return nil
    }

    /// `file` is to become writable (a shared writable mapping, a write open): refused when this
    /// process or any other process under the tracer has it mapped executable.
    func writable(_ stop: SyscallStop, file: FileIdentity, view: some TraceeView) -> Decision? {
        guard let rule else { return nil }
        let candidates = known?.processes(mapping: file) ?? [stop.tgid]
        for process in candidates {
            guard let code = view.mappings(process, of: file, allowing: .executable)?.first else { continue }
            let whose = process == stop.tgid ? "" : " by process \(process)"
            return refuse(rule, stop, "the object is mapped executable\(whose) at 0x\(String(code, radix: 16))")
        }
        return nil
    }

    private func refuse(_ rule: CompiledRule, _ stop: SyscallStop, _ reason: String) -> Decision {
        .act(rule, stop, extra: [("reason", .string("W+X by alias: " + reason))])
    }
}

/// The processes under the tracer and the files each has asked to map executable since its exec
/// (mmap and mprotect with PROT_EXEC all reach WXAliasCheck): a superset of its executable file
/// mappings, since unmaps are not followed; a hit is confirmed from the mappings. Kept across the
/// whole traced tree, so that one process cannot write what another maps executable. The images the
/// kernel maps at execve are not in it: the kernel refuses to write those (ETXTBSY).
final class ExecutableFiles {
    private var files: [ProcessID: Set<FileIdentity>] = [:]
    /// Every live process under the tracer (the root once `started`, then each child).
    private var live: Set<ProcessID> = []

    /// The root process.
    func started(_ root: ProcessID) { live.insert(root) }
    func note(_ file: FileIdentity, in tgid: ProcessID) {
        live.insert(tgid)
        files[tgid, default: []].insert(file)
    }
    func mayBeMapped(_ file: FileIdentity, in tgid: ProcessID) -> Bool { files[tgid]?.contains(file) ?? false }
    /// The processes that may have `file` mapped executable.
    func processes(mapping file: FileIdentity) -> [ProcessID] {
        files.compactMap { $0.value.contains(file) ? $0.key : nil }.sorted()
    }
    /// The other live processes (those whose descriptors and mappings may also write an object).
    func processes(besides tgid: ProcessID) -> [ProcessID] { live.subtracting([tgid]).sorted() }
    /// A new image (exec): its earlier requests no longer say anything.
    func forget(_ tgid: ProcessID) { files[tgid] = nil }
    /// The process is gone.
    func gone(_ tgid: ProcessID) {
        files[tgid] = nil
        live.remove(tgid)
    }
    /// A forked child has its parent's mappings.
    func inherit(_ child: ProcessID, from parent: ProcessID) {
        live.insert(child)
        files[child] = files[parent]
    }
}
