@_exported import StrictrunYAML

/// A profile that cannot be used, with the file, line and key to fix (the shared
/// `SourceError`: suites report the same way).
public typealias ProfileError = SourceError
