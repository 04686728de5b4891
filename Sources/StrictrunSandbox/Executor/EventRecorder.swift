import StrictrunPolicy
import StrictrunSystem
import StrictrunTrace

/// Counts of one rule over a run.
public struct RuleCount: Sendable, Hashable {
    public var category: String
    public var rule: String
    public var action: String
    /// The action as written, when `mode: audit` turned it into `log`.
    public var auditedFrom: String?
    public var count: Int

    public init(category: String, rule: String, action: String, auditedFrom: String? = nil, count: Int) {
        self.category = category
        self.rule = rule
        self.action = action
        self.auditedFrom = auditedFrom
        self.count = count
    }
}

/// Turns the events checks ask for into trace lines: decoded arguments, the stack of the
/// stopped thread (taken while it is still stopped), the counts per rule and the first
/// blocked call for the summary. The one place a policy event is built; it is written before
/// the stopped thread runs again.
final class EventRecorder {
    private let stacks: StackRecorder
    private let tracee: any TraceeView
    /// The program file of a process, for the `exe` field.
    var executable: (ProcessID) -> String = { _ in "?" }
    private(set) var counts: [RuleCount] = []
    private var countIndex: [String: Int] = [:]
    private(set) var firstBlocked: String?
    /// Where a built line goes: the trace, written at once — while the thread is still stopped,
    /// so the event is in the file before the call it describes returns to the program.
    var sink: (PolicyEvent) -> Void = { _ in }

    init(stacks: StackRecorder, tracee: any TraceeView) {
        self.stacks = stacks
        self.tracee = tracee
    }

    /// The stack of the thread of `draft` (counted for its site), taken once per event.
    func stack(for draft: EventDraft, tid: ProcessID, tgid: ProcessID) -> CapturedStack {
        stacks.capture(pid: tgid, tid: draft.tid ?? tid, category: draft.rule.category, rule: draft.rule.name)
    }

    /// Builds the line of one event of thread `tid` of process `tgid`, and counts it.
    @discardableResult
    func record(_ draft: EventDraft, tid: ProcessID, tgid: ProcessID) -> PolicyEvent {
        let rule = draft.rule
        let tid = draft.tid ?? tid
        let decoded = draft.decoded
            ?? ArgumentDecoder.decode(syscall: draft.syscall, args: draft.args, memory: tracee.memory(tid))
        let errno: String? = if case .deny(let code) = rule.action { ErrnoName.name(of: code) } else { nil }
        let event = PolicyEvent(
            pid: Int64(tgid), tid: Int64(tid), exe: executable(tgid), syscall: draft.syscall, number: draft.number,
            abi: draft.abi.name, args: decoded, category: rule.category, rule: rule.name,
            action: rule.action.recorded, errno: errno, audited: rule.auditedFrom?.description, extra: draft.extra,
            stack: draft.captured ?? (draft.withStack ? stack(for: draft, tid: tid, tgid: tgid) : .none))
        let result = errno.map { " = -\($0)" } ?? ""
        let countKey = "\(rule.category)\u{1}\(rule.name)\u{1}\(rule.action)"
        if let index = countIndex[countKey] {
            counts[index].count += 1
        } else {
            countIndex[countKey] = counts.count
            counts.append(RuleCount(category: rule.category, rule: rule.name, action: rule.action.description,
                                    auditedFrom: rule.auditedFrom?.description, count: 1))
        }
        if firstBlocked == nil && (rule.action.blocks || rule.auditedFrom != nil) {
            firstBlocked = "pid \(tgid) \(ArgumentDecoder.render(syscall: draft.syscall, decoded: decoded))\(result)"
                + "  [\(rule.category)/\(rule.name), \(rule.action)]"
        }
        sink(event)
        return event
    }
}
