import RingIOCore

/// Names one operation on one event loop: a slot of the ``OperationTable`` and the slot's
/// generation, so a stale completion or cancel request for a reused slot is recognised.
struct OperationID: Equatable, Sendable {
    let slot: UInt32
    let generation: UInt32

    /// The value carried in an io_uring `user_data` (bit 63 is reserved for the operation's timer).
    var userData: UInt64 { UInt64(generation) << 32 | UInt64(slot) }

    init(slot: UInt32, generation: UInt32) {
        self.slot = slot
        self.generation = generation
    }

    init(userData: UInt64) {
        self.slot = UInt32(truncatingIfNeeded: userData)
        self.generation = UInt32(truncatingIfNeeded: userData >> 32) & 0x7fff_ffff
    }
}

/// What an operation's waiter is resumed with.
struct Completion: Sendable {
    /// The kernel's result: a count or descriptor (>= 0) or a negated errno.
    var result: Int32
    /// The CQE flags (io_uring) or 0.
    var flags: UInt32
    /// Set when the operation was cancelled, timed out, or its resource closed.
    var interruption: Interruption?
}

/// Receives the completions of a multishot operation (a receive or accept that keeps producing).
protocol CompletionHandler: AnyObject {
    /// One completion; `more` is false on the last one.
    func handleCompletion(result: Int32, flags: UInt32, more: Bool)
}

/// The loop's operations in flight. Loop-confined: only the loop thread touches it.
///
/// Each slot is an ``OperationLifecycle`` (the waiting task's continuation, whether a kernel
/// request is outstanding, whether a deadline counts, why it was interrupted); a multishot
/// operation's handler lives beside it. A freed slot may be reused at once: its generation
/// changes, so a completion or cancel request still naming the old operation matches nothing.
final class OperationTable {
    /// Every field of a slot is a plain value (the continuation is a task pointer), so reading
    /// one copies no references; the one reference, a multishot's handler, lives in `handlers`.
    @exclusivity(unchecked) private(set) var slots: [OperationLifecycle] = []
    /// The handler of each multishot slot (`nil` for the others), by slot index.
    @exclusivity(unchecked) private var handlers: [(any CompletionHandler)?] = []
    @exclusivity(unchecked) private var free: [UInt32] = []
    /// Slots not free (pending, awaiting, completed-but-not-collected, multishot).
    @exclusivity(unchecked) private(set) var activeCount = 0

    init(capacity: Int = 1024) {
        slots.reserveCapacity(capacity)
        handlers.reserveCapacity(capacity)
        free.reserveCapacity(capacity)
    }

    /// Takes a free slot; the caller starts its lifecycle.
    private func take() -> UInt32 {
        activeCount += 1
        if let reused = free.popLast() { return reused }
        slots.append(OperationLifecycle())
        handlers.append(nil)
        return UInt32(slots.count - 1)
    }

    /// Takes a slot for a new operation and starts it (pending).
    func allocate(inKernel: Bool, hasDeadline: Bool = false, uninterruptible: Bool = false) -> OperationID {
        let index = take()
        slots[Int(index)].start(inKernel: inKernel, hasDeadline: hasDeadline, uninterruptible: uninterruptible)
        return OperationID(slot: index, generation: slots[Int(index)].generation)
    }

    /// Takes a slot for a multishot operation whose completions go to `handler`.
    func allocateMultishot(_ handler: any CompletionHandler) -> OperationID {
        let index = take()
        slots[Int(index)].startMultishot()
        handlers[Int(index)] = handler
        return OperationID(slot: index, generation: slots[Int(index)].generation)
    }

    /// The slot `id` names, if it still belongs to that operation.
    @inline(__always)
    func isCurrent(_ id: OperationID) -> Bool {
        Int(id.slot) < slots.count && slots[Int(id.slot)].generation == id.generation && !slots[Int(id.slot)].isFree
    }

    /// The lifecycle of `id`. Read in place (`_read`): a `get` would copy the whole slot to look
    /// at one field.
    subscript(id: OperationID) -> OperationLifecycle {
        _read { yield slots[Int(id.slot)] }
        _modify { yield &slots[Int(id.slot)] }
    }

    /// The handler of multishot operation `id`.
    func handler(_ id: OperationID) -> (any CompletionHandler)? { handlers[Int(id.slot)] }

    /// Gives a slot back; its generation changes so late completions for it are ignored.
    func release(_ id: OperationID) {
        precondition(isCurrent(id), "release of operation \(id) whose slot is not current")
        let index = Int(id.slot)
        slots[index].release()
        handlers[index] = nil
        activeCount -= 1
        free.append(id.slot)
    }

    /// Every slot that is in use, for shutdown.
    func activeIDs() -> [OperationID] {
        var ids: [OperationID] = []
        for (index, slot) in slots.enumerated() where !slot.isFree {
            ids.append(OperationID(slot: UInt32(index), generation: slot.generation))
        }
        return ids
    }
}
