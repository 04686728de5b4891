/// `start`: the run began.
public struct StartEvent: TraceEvent, Hashable {
    public static let type = EventType.start
    public var profile: String
    public var profileFiles: [String]
    public var mode: String
    public var argv: [String]
    public var cwd: String
    public var strictrun: String
    public var filterInstructions: Int
    /// How the fs view and net stack were built, when the profile has them.
    public var confinement: [String]

    public init(profile: String, profileFiles: [String], mode: String, argv: [String], cwd: String,
                strictrun: String, filterInstructions: Int, confinement: [String] = []) {
        self.profile = profile
        self.profileFiles = profileFiles
        self.mode = mode
        self.argv = argv
        self.cwd = cwd
        self.strictrun = strictrun
        self.filterInstructions = filterInstructions
        self.confinement = confinement
    }

    public var members: [(String, JSONValue)] {
        var out: [(String, JSONValue)] = [
            ("profile", .string(profile)), ("profile_files", .array(profileFiles.map(JSONValue.string))),
            ("mode", .string(mode)), ("argv", .array(argv.map(JSONValue.string))), ("cwd", .string(cwd)),
            ("strictrun", .string(strictrun)), ("filter_instructions", .int(Int64(filterInstructions))),
        ]
        if !confinement.isEmpty { out.append(("confinement", .array(confinement.map(JSONValue.string)))) }
        return out
    }

    public init(line: JSONValue) throws(TraceEventError) {
        let m = Members(line, Self.type)
        self.init(profile: try m.string("profile"), profileFiles: m.strings("profile_files"),
                  mode: m.optionalString("mode") ?? "enforce", argv: m.strings("argv"),
                  cwd: m.optionalString("cwd") ?? "", strictrun: m.optionalString("strictrun") ?? "?",
                  filterInstructions: Int(m.optionalInt("filter_instructions") ?? 0),
                  confinement: m.strings("confinement"))
    }
}

/// `process`: a new process appeared under the tracer.
public struct ProcessEvent: TraceEvent, Hashable {
    public static let type = EventType.process
    /// How the process was made.
    public enum Via: String, Sendable, Hashable { case fork, vfork, clone }
    public var pid: Int64
    public var parent: Int64
    public var via: Via
    public var exe: String

    public init(pid: Int64, parent: Int64, via: Via, exe: String) {
        self.pid = pid
        self.parent = parent
        self.via = via
        self.exe = exe
    }

    public var members: [(String, JSONValue)] {
        [("pid", .int(pid)), ("parent", .int(parent)), ("via", .string(via.rawValue)), ("exe", .string(exe))]
    }

    public init(line: JSONValue) throws(TraceEventError) {
        let m = Members(line, Self.type)
        let via = try m.string("via")
        guard let known = Via(rawValue: via) else {
            throw TraceEventError(type: "process", key: "via", problem: "unknown value \(via)")
        }
        self.init(pid: try m.int("pid"), parent: try m.int("parent"), via: known, exe: m.optionalString("exe") ?? "?")
    }
}

/// `exec`: a process replaced its image. argv is the program's bytes (see `TraceBytes`).
public struct ExecEvent: TraceEvent, Hashable {
    public static let type = EventType.exec
    public var pid: Int64
    public var tid: Int64
    public var exe: String
    public var argv: [[UInt8]]

    public init(pid: Int64, tid: Int64, exe: String, argv: [[UInt8]]) {
        self.pid = pid
        self.tid = tid
        self.exe = exe
        self.argv = argv
    }

    public var members: [(String, JSONValue)] {
        var out: [(String, JSONValue)] = [
            ("pid", .int(pid)), ("tid", .int(tid)), ("exe", .string(exe)),
            ("argv", .array(argv.map { .string(String(decoding: $0, as: UTF8.self)) })),
        ]
        if !argv.allSatisfy(TraceBytes.isUTF8) {
            out.append(("argv" + TraceBytes.hexSuffix, .array(argv.map { .string(TraceBytes.hex($0)) })))
        }
        return out
    }

    public init(line: JSONValue) throws(TraceEventError) {
        let m = Members(line, Self.type)
        let exact = m.strings("argv" + TraceBytes.hexSuffix).compactMap(TraceBytes.bytes(hex:))
        let argv = exact.isEmpty ? m.strings("argv").map { Array($0.utf8) } : exact
        let pid = try m.int("pid")
        self.init(pid: pid, tid: m.optionalInt("tid") ?? pid, exe: m.optionalString("exe") ?? "?", argv: argv)
    }
}
