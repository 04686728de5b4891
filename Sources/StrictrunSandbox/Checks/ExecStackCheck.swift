import StrictrunPolicy
import StrictrunSystem
import StrictrunTrace

/// An image (the program or its interpreter) linked with an executable stack (`PT_GNU_STACK`
/// RWX) gets a writable and executable stack from the kernel at execve, with no mmap or mprotect
/// to stop — under `microkernel-strict` too, where the kernel's MDWE does not cover it. Checked
/// at the exec event, from the new image's mappings: the exec cannot be undone, so where the
/// rule blocks, the process is ended (`wx/exec-stack`).
enum ExecStackCheck {
    static func decide(_ rule: CompiledRule, tid: ProcessID, tgid: ProcessID, exe: String,
                       view: some TraceeView) -> EventDraft? {
        guard let stack = view.maps(tgid)?.named("[stack]"), stack.writable && stack.executable else { return nil }
        // The exec has happened: a blocking rule can only end the process.
        let applied = rule.action.blocks ? rule.named(rule.name, action: .kill) : rule
        var event = EventDraft(rule: applied, syscall: "execve", number: SyscallNumber.execve,
                               decoded: [("path", .string(exe))],
                               extra: [("mapping", .string("0x\(String(stack.start, radix: 16))-0x\(String(stack.end, radix: 16)) rwx [stack]")),
                                       ("reason", .string("the image asks for an executable stack (PT_GNU_STACK RWX)"))])
        event.tid = tid
        return event
    }
}
