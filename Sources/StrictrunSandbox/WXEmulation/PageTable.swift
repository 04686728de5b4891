import StrictrunSystem

/// The protection an emulated page has now: writable (RW) or executable (RX), never both.
enum PageProtection {
    case writable, executable
    var prot: UInt64 { self == .writable ? Xlat.protRead | Xlat.protWrite : Xlat.protRead | Xlat.protExec }
}

/// One address space's emulated pages (`wx: emulate`): the pages granted RW in place of W+X,
/// each with its current protection and who flipped it last. Shared by a vfork child until it
/// execs; copied on fork. Also what the emulator knows of the space: its trampoline and a
/// `syscall` instruction for injections.
final class AddressSpace {
    static let pageSize: UInt64 = 4096
    static let pageShift: UInt64 = 12

    struct Page {
        var protection: PageProtection
        /// When the emulator last flipped it (CLOCK_MONOTONIC ns), 0 when never.
        var flippedAt: UInt64
        var flippedBy: ProcessID
    }

    var pages: [UInt64: Page] = [:]
    /// The trampoline's address once mapped; `trampolineFailed` when it cannot be.
    var trampoline: UInt64?
    var trampolineFailed = false
    /// A `syscall` instruction of the program (from a seccomp stop), for injections.
    var syscallInstruction: UInt64?

    func copy() -> AddressSpace {
        let other = AddressSpace()
        other.pages = pages
        other.trampoline = trampoline
        other.trampolineFailed = trampolineFailed
        other.syscallInstruction = syscallInstruction
        return other
    }

    /// Removes and returns the entries over [start, start+length).
    func remove(start: UInt64, length: UInt64) -> [(UInt64, Page)] {
        guard !pages.isEmpty, length > 0 else { return [] }
        let first = start >> Self.pageShift
        let last = (start &+ length &- 1) >> Self.pageShift
        guard last >= first else { return [] }
        var removed: [(UInt64, Page)] = []
        if last - first < UInt64(pages.count) {
            for number in first...last {
                if let page = pages.removeValue(forKey: number) { removed.append((number, page)) }
            }
        } else {
            for (number, page) in pages where number >= first && number <= last {
                removed.append((number, page))
            }
            for (number, _) in removed { pages[number] = nil }
        }
        return removed
    }

    /// Whether any emulated page lies in [start, start+length).
    func overlaps(start: UInt64, length: UInt64) -> Bool {
        guard !pages.isEmpty, length > 0 else { return false }
        let first = start >> Self.pageShift
        let last = (start &+ length &- 1) >> Self.pageShift
        guard last >= first else { return false }
        if last - first < UInt64(pages.count) { return (first...last).contains { pages[$0] != nil } }
        return pages.keys.contains { $0 >= first && $0 <= last }
    }

    func restore(_ entries: [(UInt64, Page)]) {
        for (number, page) in entries { pages[number] = page }
    }

    func add(start: UInt64, length: UInt64, by tid: ProcessID) {
        guard length > 0 else { return }
        let first = start >> Self.pageShift
        let last = (start &+ length &- 1) >> Self.pageShift
        guard last >= first else { return }
        for number in first...last {
            pages[number] = Page(protection: .writable, flippedAt: 0, flippedBy: tid)
        }
    }

    /// Updates the table for a memory call the filter sent (mmap with MAP_FIXED or W+X,
    /// mprotect, pkey_mprotect, munmap, mremap) at its seccomp stop. `grantedWriteExec`: the
    /// call asked for W+X and runs as RW. Returns what to do with the call's result at its exit
    /// stop (nil: nothing to learn from it): a failed call is undone, an mmap learns its address.
    func memoryCall(tid: ProcessID, number: UInt64, args: [UInt64], grantedWriteExec: Bool) -> ((_ result: Int64) -> Void)? {
        let failed = { (result: Int64) in result < 0 && result > -4096 }
        switch number {
        case SyscallNumber.mmap:
            let removed = args[3] & Xlat.mapFixed != 0 ? remove(start: args[0], length: args[1]) : []
            guard grantedWriteExec || !removed.isEmpty else { return nil }
            let length = args[1]
            return { [self] result in
                if failed(result) {
                    restore(removed)
                } else if grantedWriteExec {
                    add(start: UInt64(bitPattern: result), length: length, by: tid)
                }
            }
        case SyscallNumber.mprotect, SyscallNumber.pkeyMprotect:
            let removed = remove(start: args[0], length: args[1])
            if grantedWriteExec { add(start: args[0], length: args[1], by: tid) }
            guard grantedWriteExec || !removed.isEmpty else { return nil }
            let (start, length) = (args[0], args[1])
            return { [self] result in
                guard failed(result) else { return }
                if grantedWriteExec { _ = remove(start: start, length: length) }
                restore(removed)
            }
        case SyscallNumber.munmap:
            let removed = remove(start: args[0], length: args[1])
            guard !removed.isEmpty else { return nil }
            return { [self] result in if failed(result) { restore(removed) } }
        case SyscallNumber.mremap:  // mremap(old, old_size, new_size, flags, new)
            let (old, newLength, flags) = (args[0], args[2], args[3])
            let removed = remove(start: old, length: args[1])
            let displaced = flags & Xlat.mremapFixed != 0 ? remove(start: args[4], length: newLength) : []
            guard !removed.isEmpty || !displaced.isEmpty else { return nil }
            return { [self] result in
                if failed(result) {
                    restore(removed)
                    restore(displaced)
                    return
                }
                let newFirst = UInt64(bitPattern: result) >> Self.pageShift
                let oldFirst = old >> Self.pageShift
                let newPages = (newLength + Self.pageSize - 1) >> Self.pageShift
                for (number, page) in removed where number - oldFirst < newPages {
                    pages[newFirst + number - oldFirst] = page
                }
                // MREMAP_DONTUNMAP leaves the old range mapped (empty, same protection).
                if flags & Xlat.mremapDontUnmap != 0 { restore(removed) }
            }
        default:
            return nil
        }
    }

    /// Whether a traced pkey_mprotect is the trampoline's flip, and if so whether it still
    /// agrees with the table (nil: not the trampoline's).
    func trampolineFlip(number: UInt64, args: [UInt64], instructionPointer: UInt64) -> Bool? {
        guard number == SyscallNumber.pkeyMprotect, let trampoline, instructionPointer == trampoline + 2,
              args[3] & Xlat.noProtectionKey == Xlat.noProtectionKey else { return nil }
        guard args[1] == Self.pageSize, let page = pages[args[0] >> Self.pageShift] else { return false }
        return page.protection.prot == args[2]
    }
}
