import CSandbox
import Glibc
import Namespace
import Runtime
import Synchronization

/// From an exec's monitor thread to the task awaiting `run`: its output pieces, then its end.
/// At most `capacity` pieces wait; while that many do, the thread stops reading the pipes (the
/// program then blocks on its writes), so a slow consumer slows the program instead of growing
/// a buffer. The consumer wakes the thread through a pipe the thread polls with the others.
final class OutputHandoff: Sendable {
    enum Event: Sendable {
        case output(SandboxOutput)
        case end(Result<SandboxExit, any Error>)
    }

    struct State: ~Copyable {
        var queue: [Event] = []
        var head = 0
        var waiter: CheckedContinuation<Event, Never>?
        var count: Int { queue.count - head }
    }

    static let capacity = 4
    private let state = Mutex(State())
    /// Read by the monitor thread (in its poll set); written by the consumer on each take.
    let wakeRead: Int32
    private let wakeWrite: Int32

    init() throws(FSError) {
        var fds: [Int32] = [-1, -1]
        guard ans_pipe(&fds) == 0 else { throw FSError(.unavailable, "cannot make a pipe: \(String(cString: strerror(errno)))") }
        _ = fcntl(fds[0], F_SETFL, O_NONBLOCK)
        _ = fcntl(fds[1], F_SETFL, O_NONBLOCK)
        (wakeRead, wakeWrite) = (fds[0], fds[1])
    }

    deinit {
        close(wakeRead)
        close(wakeWrite)
    }

    /// Whether the thread should stop reading output until the consumer takes some.
    var isFull: Bool { state.withLock { $0.count >= Self.capacity } }

    /// The monitor thread hands on an event (never blocks).
    func push(_ event: Event) {
        let waiter = state.withLock { s -> CheckedContinuation<Event, Never>? in
            if let w = s.waiter {
                s.waiter = nil
                return w
            }
            s.queue.append(event)
            return nil
        }
        waiter?.resume(returning: event)
    }

    /// The monitor thread empties the wake pipe after its poll saw it readable.
    func drainWakeups() {
        var buf = [UInt8](repeating: 0, count: 64)
        while Glibc.read(wakeRead, &buf, buf.count) > 0 {}
    }

    /// The consumer's next event, waiting for one if none is there.
    func next() async -> Event {
        let event = await withCheckedContinuation { (c: CheckedContinuation<Event, Never>) in
            let ready = state.withLock { s -> Event? in
                guard s.count > 0 else {
                    s.waiter = c
                    return nil
                }
                let e = s.queue[s.head]
                s.head += 1
                if s.head == s.queue.count {
                    s.queue.removeAll(keepingCapacity: true)
                    s.head = 0
                }
                return e
            }
            if let ready { c.resume(returning: ready) }
        }
        var one: UInt8 = 1
        _ = Glibc.write(wakeWrite, &one, 1)  // a full pipe already wakes the thread
        return event
    }
}
