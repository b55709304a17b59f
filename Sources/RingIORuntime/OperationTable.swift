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
/// A slot holds the waiting task's continuation (or a multishot handler), whether a kernel
/// request is outstanding, whether a deadline timer is armed, and why it was interrupted.
/// A freed slot may be reused at once: its generation changes, so a completion or cancel
/// request still naming the old operation matches nothing.
final class OperationTable {
    enum State { case free, waiting, completed, multishot }

    struct Slot {
        var generation: UInt32 = 0
        var state: State = .free
        var continuation: UnsafeContinuation<Completion, Never>?
        var early: Completion?
        var inKernel = false
        var timerArmed = false
        var interruption: Interruption?
        /// Set for operations that must run to their completion (a close): nothing interrupts them.
        var uninterruptible = false
    }

    /// Every field of a slot is a plain value (the continuation is a task pointer), so reading
    /// one copies no references; the one reference, a multishot's handler, lives in `handlers`.
    @exclusivity(unchecked) private(set) var slots: [Slot] = []
    /// The handler of each multishot slot (`nil` for the others), by slot index.
    @exclusivity(unchecked) private var handlers: [(any CompletionHandler)?] = []
    @exclusivity(unchecked) private var free: [UInt32] = []
    /// Slots not free (waiting, completed-but-not-collected, multishot).
    @exclusivity(unchecked) private(set) var activeCount = 0

    init(capacity: Int = 1024) {
        slots.reserveCapacity(capacity)
        handlers.reserveCapacity(capacity)
        free.reserveCapacity(capacity)
    }

    /// Takes a slot for a new waiting operation.
    func allocate() -> OperationID {
        let index: UInt32
        if let reused = free.popLast() {
            index = reused
        } else {
            index = UInt32(slots.count)
            slots.append(Slot())
            handlers.append(nil)
        }
        slots[Int(index)].state = .waiting
        activeCount += 1
        return OperationID(slot: index, generation: slots[Int(index)].generation)
    }

    /// Takes a slot for a multishot operation whose completions go to `handler`.
    func allocateMultishot(_ handler: any CompletionHandler) -> OperationID {
        let id = allocate()
        slots[Int(id.slot)].state = .multishot
        handlers[Int(id.slot)] = handler
        slots[Int(id.slot)].inKernel = true
        return id
    }

    /// The slot `id` names, if it still belongs to that operation.
    @inline(__always)
    func isCurrent(_ id: OperationID) -> Bool {
        Int(id.slot) < slots.count && slots[Int(id.slot)].generation == id.generation
            && slots[Int(id.slot)].state != .free
    }

    /// The slot of `id`. Read in place (`_read`): a `get` would copy the whole slot, retaining
    /// and releasing its continuation and handler, to look at one field.
    subscript(id: OperationID) -> Slot {
        _read { yield slots[Int(id.slot)] }
        _modify { yield &slots[Int(id.slot)] }
    }

    /// The handler of multishot operation `id`.
    func handler(_ id: OperationID) -> (any CompletionHandler)? { handlers[Int(id.slot)] }

    /// Gives a slot back; its generation changes so late completions for it are ignored.
    func release(_ id: OperationID) {
        precondition(isCurrent(id), "release of operation \(id) whose slot is not current")
        let index = Int(id.slot)
        slots[index].generation = (slots[index].generation &+ 1) & 0x7fff_ffff
        slots[index].state = .free
        slots[index].continuation = nil
        slots[index].early = nil
        handlers[index] = nil
        slots[index].inKernel = false
        slots[index].timerArmed = false
        slots[index].interruption = nil
        slots[index].uninterruptible = false
        activeCount -= 1
        free.append(id.slot)
    }

    /// Every slot that is in use, for shutdown.
    func activeIDs() -> [OperationID] {
        var ids: [OperationID] = []
        for (index, slot) in slots.enumerated() where slot.state != .free {
            ids.append(OperationID(slot: UInt32(index), generation: slot.generation))
        }
        return ids
    }
}
