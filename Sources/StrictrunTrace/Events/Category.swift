/// A rule category as the trace, the conformance summary and the report all see it: its name
/// (the trace's `category`), whether and where it heads summaries, and its colour in charts.
/// The one list of categories; a new category is one more entry here.
public struct Category: Sendable, Hashable, CustomStringConvertible {
    public var name: String
    /// What the category stands for, for report legends.
    public var title: String
    /// Position in the summary's headline columns (nil: not a headline category).
    public var headlineOrder: Int?
    /// Chart colour (CSS hex).
    public var colour: String

    public var description: String { name }

    /// The category of the process model: fork, vfork, spawning.
    public static let process = Category(name: "process", title: "process model", headlineOrder: 0, colour: "#c0392b")
    /// Write-xor-execute memory.
    public static let wx = Category(name: "wx", title: "W^X memory", headlineOrder: 1, colour: "#e67e22")
    /// Mediated TLS.
    public static let tls = Category(name: "tls", title: "mediated TLS", headlineOrder: 2, colour: "#2980b9")
    /// Ways around the policy (writes to /proc/PID/mem, ptrace, unknown rule data).
    public static let escape = Category(name: "escape", title: "ways around the policy", colour: "#8e44ad")
    /// The target's filesystem view.
    public static let fs = Category(name: "fs", title: "filesystem", colour: "#16a085")
    /// The target's network stack.
    public static let net = Category(name: "net", title: "network", colour: "#2c3e50")
    /// strictrun itself could not decide or carry out a decision (fail closed).
    public static let supervisor = Category(name: "supervisor", title: "supervisor failure", colour: "#34495e")
    /// A new failure whose trace blocked nothing.
    public static let unattributed = Category(name: "unattributed", title: "unattributed", colour: "#95a5a6")

    /// Every known category, in headline-then-report order.
    public static let known: [Category] = [.process, .wx, .tls, .escape, .fs, .net, .supervisor, .unattributed]
    /// The categories summaries put first, in order.
    public static let headlines: [Category] = known.filter { $0.headlineOrder != nil }
        .sorted { $0.headlineOrder! < $1.headlineOrder! }

    private static let spare = ["#27ae60", "#d35400", "#7f8c8d", "#f39c12", "#1abc9c", "#9b59b6"]

    /// The category named `name`: a known one, or (a profile's own) one with a stable spare colour.
    public static func named(_ name: String) -> Category {
        if let known = known.first(where: { $0.name == name }) { return known }
        let index = name.unicodeScalars.reduce(0) { ($0 &* 31 &+ Int($1.value)) & 0xffff } % spare.count
        return Category(name: name, title: name, colour: spare[index])
    }
}
