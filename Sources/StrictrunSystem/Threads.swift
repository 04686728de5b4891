import CStrictrunShims
#if canImport(Glibc)
import Glibc
#endif

/// Threads of strictrun's own, made with `pthread_create` directly. Foundation's `Thread.start`
/// cost 0.15–0.3 ms each (its object, thread-specific data, a start handshake); a run makes three
/// before the program's exec (the CA's, the signal forwarder, the tracer), all on its critical path.
public enum Threads {
    /// Runs `body` on a new detached thread named `name` (the kernel keeps its first 15 bytes; nil:
    /// the process's name, as any new thread has), with `stackSize` bytes of stack (0: the
    /// default). False when the thread could not be made (`body` never runs then).
    public static func start(name: String? = nil, stackSize: Int = 0, _ body: @escaping @Sendable () -> Void) -> Bool {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        if stackSize > 0 { pthread_attr_setstacksize(&attributes, stackSize) }
        let start = Start(name: name, body: body)
        let argument = Unmanaged.passRetained(start).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, &attributes, { argument in
            let start = Unmanaged<Start>.fromOpaque(argument!).takeRetainedValue()
            if let name = start.name { _ = strictrun_set_thread_name(name) }
            start.body()
            return nil
        }, argument)
        if rc != 0 {
            Unmanaged<Start>.fromOpaque(argument).release()
            return false
        }
        return true
    }

    private final class Start {
        let name: String?
        let body: @Sendable () -> Void
        init(name: String?, body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }
}
