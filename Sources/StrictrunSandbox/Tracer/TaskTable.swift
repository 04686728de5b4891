import StrictrunSystem

/// The tasks and processes under the tracer: each task's thread group, each process's program
/// and parent, every process id seen (the root first).
struct TaskTable {
    private struct Task {
        var tgid: ProcessID
        /// False until the auto-attached task's initial SIGSTOP has been seen.
        var started: Bool
    }
    struct Process {
        var exe: String
        var parent: ProcessID?
    }

    let root: ProcessID
    private var tasks: [ProcessID: Task] = [:]
    private(set) var processes: [ProcessID: Process] = [:]
    private(set) var processIDs: [ProcessID]

    init(root: ProcessID, exe: String) {
        self.root = root
        processIDs = [root]
        tasks[root] = Task(tgid: root, started: true)
        processes[root] = Process(exe: exe, parent: nil)
    }

    /// The thread group of a task, from the table (or /proc for a task not seen yet).
    func group(of tid: ProcessID) -> ProcessID { tasks[tid]?.tgid ?? ProcFS.threadGroup(of: tid) ?? tid }

    func executable(_ tgid: ProcessID) -> String { processes[tgid]?.exe ?? "?" }

    /// Whether a SIGSTOP of `tid` is its initial stop (then it is marked started).
    mutating func takeInitialStop(_ tid: ProcessID) -> Bool {
        guard tasks[tid]?.started != true else { return false }
        if tasks[tid] == nil {
            // Its creator's clone event has not been handled yet: ask /proc.
            tasks[tid] = Task(tgid: ProcFS.threadGroup(of: tid) ?? tid, started: true)
        } else {
            tasks[tid]?.started = true
        }
        return true
    }

    /// A new task; a new process when it is not a thread (then its parent's program, for now).
    mutating func created(_ child: ProcessID, by parent: ProcessID, isThread: Bool) {
        let parentGroup = group(of: parent)
        let tgid = isThread ? parentGroup : child
        if tasks[child] == nil {
            tasks[child] = Task(tgid: tgid, started: false)
        } else {
            tasks[child]?.tgid = tgid
        }
        guard !isThread else { return }
        processIDs.append(child)
        processes[child] = Process(exe: executable(parentGroup), parent: parentGroup)
    }

    /// `tid` exec'd (a non-leader thread takes over the group's id): its new program.
    mutating func execed(_ tid: ProcessID, former: ProcessID, exe: String) -> ProcessID {
        if former != tid { tasks[former] = nil }
        let tgid = group(of: tid)
        tasks[tid] = Task(tgid: tgid, started: true)
        processes[tgid, default: Process(exe: exe, parent: nil)].exe = exe
        return tgid
    }

    /// A task was reaped: its thread group, and whether it was the group's leader.
    mutating func reaped(_ tid: ProcessID) -> (tgid: ProcessID, leader: Bool) {
        let tgid = tasks.removeValue(forKey: tid)?.tgid ?? tid
        return (tgid, tgid == tid)
    }

    mutating func processGone(_ tgid: ProcessID) { processes[tgid] = nil }

    /// Whether `tgid` is the only process under the tracer and has one thread.
    func isAlone(_ tgid: ProcessID) -> Bool {
        processes.count == 1 && processes[tgid] != nil && tasks.values.lazy.filter { $0.tgid == tgid }.count == 1
    }

    /// Every live thread group.
    var groups: Set<ProcessID> { Set(tasks.values.map(\.tgid)) }
}
