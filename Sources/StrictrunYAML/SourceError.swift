/// A place in a YAML file (profile or suite), kept with values so errors can point at it.
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }
}

/// A file that cannot be used, with the file, line, column and key to fix:
/// `file:line:column: key 'a.b': message`. Profiles and suites both report with it.
public struct SourceError: Error, Sendable, Hashable, CustomStringConvertible {
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

    /// An error at `location` (or in `file` when there is none).
    public init(at location: SourceLocation?, file: String, key: String?, _ message: String) {
        self.init(file: location?.file ?? file, line: location?.line, column: location?.column,
                  key: key, message: message)
    }

    public var description: String {
        var place = file
        if let line { place += ":\(line)" }
        if let column { place += ":\(column)" }
        if let key { return "\(place): key '\(key)': \(message)" }
        return "\(place): \(message)"
    }
}
