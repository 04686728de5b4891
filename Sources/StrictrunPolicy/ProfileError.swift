/// A profile that cannot be used, with the file, line and key to fix.
public struct ProfileError: Error, Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var column: Int?
    /// Dotted path of the offending key, e.g. `wx.level` or `rules[2].syscall`.
    public var key: String?
    public var message: String

    public init(file: String, line: Int? = nil, column: Int? = nil, key: String? = nil, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.key = key
        self.message = message
    }

    init(at location: SourceLocation?, file: String, key: String?, _ message: String) {
        self.init(file: location?.file ?? file, line: location?.line, column: location?.column,
                  key: key, message: message)
    }

    public var description: String {
        var where_ = file
        if let line { where_ += ":\(line)" }
        if let column { where_ += ":\(column)" }
        if let key { return "\(where_): key '\(key)': \(message)" }
        return "\(where_): \(message)"
    }
}
