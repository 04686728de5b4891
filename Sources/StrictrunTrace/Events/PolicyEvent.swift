/// One frame of a policy line's `stack`.
public struct TraceFrame: Sendable, Hashable {
    public var pc: UInt64
    public var module: String?
    public var offset: UInt64?
    public var symbol: String?
    public var file: String?
    public var line: Int?

    public init(pc: UInt64, module: String? = nil, offset: UInt64? = nil, symbol: String? = nil,
                file: String? = nil, line: Int? = nil) {
        self.pc = pc
        self.module = module
        self.offset = offset
        self.symbol = symbol
        self.file = file
        self.line = line
    }

    static func hex(_ value: UInt64) -> JSONValue { JSONValue.hex(value) }
    static func number(_ value: JSONValue?) -> UInt64? {
        guard let text = value?.stringValue, text.hasPrefix("0x") else { return nil }
        return UInt64(text.dropFirst(2), radix: 16)
    }

    public var json: JSONValue {
        var out: [(String, JSONValue)] = [("pc", Self.hex(pc))]
        out.append("module", module.map(JSONValue.string))
        out.append("offset", offset.map(Self.hex))
        out.append("symbol", symbol.map(JSONValue.string))
        out.append("file", file.map(JSONValue.string))
        out.append("line", line.map { .int(Int64($0)) })
        return .object(out)
    }

    public init(json: JSONValue) {
        self.init(pc: Self.number(json["pc"]) ?? 0, module: json["module"]?.stringValue,
                  offset: Self.number(json["offset"]), symbol: json["symbol"]?.stringValue,
                  file: json["file"]?.stringValue, line: json["line"]?.intValue.map(Int.init))
    }
}

/// The stack members of a policy line: the frames (null when stacks are off or the site's cap
/// was reached), why they are missing or short, and the call site's id.
public struct CapturedStack: Sendable, Hashable {
    public var frames: [TraceFrame]?
    /// Why `frames` is null although stacks are on (e.g. the site's cap).
    public var omitted: String?
    /// Why the unwind stopped early.
    public var error: String?
    public var site: String?
    /// How many frames the site id was made of.
    public var siteFrames: Int?

    public init(frames: [TraceFrame]? = nil, omitted: String? = nil, error: String? = nil, site: String? = nil,
                siteFrames: Int? = nil) {
        self.frames = frames
        self.omitted = omitted
        self.error = error
        self.site = site
        self.siteFrames = siteFrames
    }

    /// No stack (stacks off, or an event without one).
    public static let none = CapturedStack()

    static let keys: Set<String> = ["stack", "stack_omitted", "stack_error", "site", "site_frames"]

    var members: [(String, JSONValue)] {
        var out: [(String, JSONValue)] = [("stack", frames.map { .array($0.map(\.json)) } ?? .null)]
        out.append("stack_omitted", omitted.map(JSONValue.string))
        out.append("stack_error", error.map(JSONValue.string))
        out.append(("site", site.map(JSONValue.string) ?? .null))
        out.append("site_frames", siteFrames.map { .int(Int64($0)) })
        return out
    }

    init(line: JSONValue) {
        self.init(frames: line["stack"]?.arrayValue?.map(TraceFrame.init(json:)),
                  omitted: line["stack_omitted"]?.stringValue, error: line["stack_error"]?.stringValue,
                  site: line["site"]?.stringValue, siteFrames: line["site_frames"]?.intValue.map(Int.init))
    }
}

/// `policy`: a call a rule matched — the thread, the call and its decoded arguments, the rule
/// and what was done, and the stack of the thread that made it.
public struct PolicyEvent: TraceEvent {
    public static let type = EventType.policy
    /// The process (nil only for a broker refusal the broker could not tie to one).
    public var pid: Int64?
    public var tid: Int64?
    public var exe: String?
    public var syscall: String
    /// The call's number in its ABI (absent for events that are not a system call: `fault`, `tls`).
    public var number: UInt64?
    public var abi: String?
    /// Decoded arguments, in the call's order (paths as `TraceBytes`).
    public var args: [(String, JSONValue)]
    public var category: String
    public var rule: String
    public var action: EventAction
    /// The errno the program saw (deny).
    public var errno: String?
    /// Under `mode: audit`, the action the profile wrote (`deny(EPERM)`), which was only logged.
    public var audited: String?
    /// Members a check adds (`reason`, `path`, `wx_emulated`…), in order, before the stack.
    public var extra: [(String, JSONValue)]
    public var stack: CapturedStack

    public init(pid: Int64?, tid: Int64? = nil, exe: String? = nil, syscall: String, number: UInt64? = nil,
                abi: String? = nil, args: [(String, JSONValue)] = [], category: String, rule: String,
                action: EventAction, errno: String? = nil, audited: String? = nil,
                extra: [(String, JSONValue)] = [], stack: CapturedStack = .none) {
        self.pid = pid
        self.tid = tid
        self.exe = exe
        self.syscall = syscall
        self.number = number
        self.abi = abi
        self.args = args
        self.category = category
        self.rule = rule
        self.action = action
        self.errno = errno
        self.audited = audited
        self.extra = extra
        self.stack = stack
    }

    /// The action the profile wrote: `audited` when present, else `action`.
    public var writtenAction: EventAction { audited.flatMap(EventAction.init(written:)) ?? action }

    /// Denied, killed, skipped or refused — or, in audit mode, logged in place of one of those.
    public var blocks: Bool { action.blocks || writtenAction.blocks }

    /// The member `key` of the arguments or the extra members.
    public subscript(key: String) -> JSONValue? {
        args.first { $0.0 == key }?.1 ?? extra.first { $0.0 == key }?.1
    }

    public var members: [(String, JSONValue)] {
        var out: [(String, JSONValue)] = []
        out.append("pid", pid.map(JSONValue.int))
        out.append("tid", tid.map(JSONValue.int))
        out.append("exe", exe.map(JSONValue.string))
        out.append(("syscall", .string(syscall)))
        out.append("nr", number.map(JSONValue.uint))
        out.append("abi", abi.map(JSONValue.string))
        out += [("args", .object(args)), ("category", .string(category)), ("rule", .string(rule)),
                ("action", .string(action.rawValue))]
        out.append("errno", errno.map(JSONValue.string))
        out.append("audited", audited.map(JSONValue.string))
        out += extra
        out += stack.members
        return out
    }

    static let keys: Set<String> = ["pid", "tid", "exe", "syscall", "nr", "abi", "args", "category", "rule",
                                    "action", "errno", "audited"]

    public init(line: JSONValue) throws(TraceEventError) {
        let m = Members(line, Self.type)
        let written = try m.string("action")
        guard let action = EventAction(written: written) else {
            throw TraceEventError(type: "policy", key: "action", problem: "unknown action \(written)")
        }
        let category = try m.string("category")
        // An event no system call made (the broker's `tls/verification-failed`) may have no
        // `syscall`: it reads with its category in its place, as `TLSEvent.refusal` writes `tls`.
        let syscall: String
        switch line["syscall"] {
        case nil, .null?: syscall = category
        default: syscall = try m.string("syscall")
        }
        self.init(pid: m.optionalInt("pid"), tid: m.optionalInt("tid"), exe: m.optionalString("exe"),
                  syscall: syscall, number: Self.unsigned(line["nr"]), abi: m.optionalString("abi"),
                  args: line["args"]?.objectValue ?? [], category: category,
                  rule: try m.string("rule"), action: action, errno: m.optionalString("errno"),
                  audited: m.optionalString("audited"),
                  extra: m.rest(excluding: Self.keys.union(CapturedStack.keys)), stack: CapturedStack(line: line))
    }
}
