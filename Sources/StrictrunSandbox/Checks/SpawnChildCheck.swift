import StrictrunPolicy
import StrictrunSystem

/// A child that shares its parent's memory (vfork, `clone(CLONE_VM)`: how posix_spawn and libuv
/// start programs) on a target without fork: until it calls exec it runs the program's own code in
/// a second process — a fork in disguise if it never does. The tracer stops it at every call until
/// exec (or exit); what `posix_spawn`-style child code needs passes (signal mask and handlers,
/// descriptors and the file actions' opens, directory, session and group, ids and limits, the
/// error-pipe write, exec, exit); anything else is denied (`process/spawn-child`).
enum SpawnChildCheck {
    static let allowed: Set<String> = [
        // signals
        "rt_sigprocmask", "rt_sigaction", "rt_sigreturn", "sigaltstack",
        // descriptors and file actions
        "dup", "dup2", "dup3", "close", "close_range", "fcntl", "open", "openat", "openat2", "getdents64",
        "ioctl", "write",
        // directory, session, process group, ids, limits, scheduling
        "chdir", "fchdir", "umask", "setsid", "setpgid", "getpid", "getppid", "gettid", "getuid", "geteuid",
        "getgid", "getegid", "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups",
        "prlimit64", "setrlimit", "getrlimit", "sched_setscheduler", "sched_setparam", "prctl", "set_robust_list",
        // the point of it, and the way out
        "execve", "execveat", "exit", "exit_group",
    ]

    static func decide(_ rule: CompiledRule, _ stop: SyscallStop) -> Decision {
        allowed.contains(stop.name) ? .pass : .act(rule, stop, extra: [(
            "reason", .string("a child sharing its parent's memory may only prepare an exec before it calls one"))])
    }
}
