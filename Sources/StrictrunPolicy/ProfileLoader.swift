import Foundation
import StrictrunSystem

/// Finds, reads, merges (`extends`) and validates profiles.
///
/// A profile is named either by a path (anything containing `/` or ending in `.yaml`) or by
/// a name looked up as `NAME.yaml` in each directory of `searchPath`, in order.
public struct ProfileLoader: Sendable {
    /// Directories holding `NAME.yaml` profiles, searched in order.
    public var searchPath: [String]
    /// Whether a syscall name exists on x86_64 (injected: the policy layer knows no libseccomp).
    public var syscallExists: @Sendable (String) -> Bool

    public init(searchPath: [String], syscallExists: @escaping @Sendable (String) -> Bool) {
        self.searchPath = searchPath
        self.syscallExists = syscallExists
    }

    /// One profile the loader can find by name.
    public struct Entry: Sendable, Hashable {
        public var name: String
        public var path: String
    }

    /// Every profile found on the search path (first directory wins for a name).
    public func list() -> [Entry] {
        var seen = Set<String>()
        var out: [Entry] = []
        for dir in searchPath {
            guard let files = try? FileManager.default.contentsOfDirectory(atPath: dir) else { continue }
            for file in files.sorted() where file.hasSuffix(".yaml") {
                let name = String(file.dropLast(5))
                if seen.insert(name).inserted { out.append(Entry(name: name, path: dir + "/" + file)) }
            }
        }
        return out
    }

    /// Where `reference` (a name or a path) points, relative to `directory` for paths.
    public func resolve(_ reference: String, relativeTo directory: String? = nil) -> String? {
        if reference.contains("/") || reference.hasSuffix(".yaml") {
            let path = reference.hasPrefix("/") || directory == nil ? reference : directory! + "/" + reference
            return FileManager.default.fileExists(atPath: path) ? path : nil
        }
        for dir in searchPath {
            let path = "\(dir)/\(reference).yaml"
            if FileManager.default.fileExists(atPath: path) { return path }
        }
        return nil
    }

    /// Load and validate a profile by name or path.
    public func load(_ reference: String) throws(ProfileError) -> Profile {
        guard let path = resolve(reference) else {
            let known = list().map(\.name).joined(separator: ", ")
            throw ProfileError(file: reference, message: "no such profile (known: \(known.isEmpty ? "none" : known))")
        }
        return try load(path: path)
    }

    /// Load and validate the profile file at `path`.
    public func load(path: String) throws(ProfileError) -> Profile {
        var chain: [String] = []
        let doc = try document(at: path, chain: &chain)
        return doc.resolved(sources: chain)
    }

    /// `extendedFrom`: where the `extends` that led here was written (for errors).
    private func document(at path: String, chain: inout [String],
                          extendedFrom: SourceLocation? = nil) throws(ProfileError) -> ProfileDocument {
        let canonical = Self.canonical(path)
        if chain.contains(canonical) {
            throw ProfileError(at: extendedFrom, file: path, key: "extends",
                               "'extends' cycle: \((chain + [canonical]).joined(separator: " → "))")
        }
        chain.append(canonical)
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ProfileError(at: extendedFrom, file: path, key: extendedFrom == nil ? nil : "extends",
                               "cannot read: \(error.localizedDescription)")
        }
        var doc = try ProfileDocumentReader(file: path, syscallExists: syscallExists).read(yaml: text)
        if doc.name == nil { doc.name = Self.stem(canonical) }
        guard let parent = doc.extends else { return doc }
        let directory = String(canonical[..<(canonical.lastIndex(of: "/") ?? canonical.startIndex)])
        // A name in `extends` is looked up next to the file first, then on the search path.
        let parentPath = resolve(parent.name.contains("/") || parent.name.hasSuffix(".yaml")
                                 ? parent.name : parent.name + ".yaml", relativeTo: directory)
            ?? resolve(parent.name)
        guard let parentPath else {
            throw ProfileError(at: parent.location, file: path, key: "extends",
                               "no such profile '\(parent.name)'")
        }
        let base = try document(at: parentPath, chain: &chain, extendedFrom: parent.location)
        return doc.merged(over: base)
    }

    /// `path` made absolute and normalized lexically (what `extends` cycles and the trace's
    /// `profile_files` compare). Strings and bytes, not Foundation's URLs: those were a fifth
    /// of a profile's load.
    static func canonical(_ path: String) -> String {
        var bytes = Array(path.utf8)
        if !PathBytes.isAbsolute(bytes) {
            bytes = PathBytes.joined(Array(FileManager.default.currentDirectoryPath.utf8), bytes)
        }
        return String(decoding: PathBytes.normalized(bytes), as: UTF8.self)
    }

    /// The file name without its extension: `/a/b/name.yaml` → `name`.
    static func stem(_ path: String) -> String {
        let name = path[(path.lastIndex(of: "/").map(path.index(after:)) ?? path.startIndex)...]
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return String(name) }
        return String(name[..<dot])
    }
}
