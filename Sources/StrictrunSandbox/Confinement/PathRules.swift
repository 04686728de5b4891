/// Path arithmetic for the view (no file access; `visibleRoots` reads the tree through `HostFiles`).
enum PathRules {
    /// Whether `path` is `base` or below it.
    static func isWithin(_ path: String, _ base: String) -> Bool {
        base == "/" || path == base || path.hasPrefix(base + "/")
    }

    /// The fewest directories that cover `/` except the hidden paths: each hidden path's
    /// ancestors are replaced by their other children (Landlock allows by subtree).
    static func visibleRoots(hiding hidden: [String], files: HostFiles = .live) -> [String] {
        var roots = ["/"]
        for path in hidden {
            while let index = roots.firstIndex(where: { isWithin(path, $0) && $0 != path }) {
                let parent = roots.remove(at: index)
                let children = files.children(parent)
                for child in children.sorted() {
                    let full = parent == "/" ? "/" + child : parent + "/" + child
                    if hidden.contains(full) { continue }
                    // Symlinks are reached through their targets, which keep their own rules.
                    if files.isSymlink(full) { continue }
                    roots.append(full)
                }
            }
            roots.removeAll { $0 == path }
        }
        return roots
    }
}
