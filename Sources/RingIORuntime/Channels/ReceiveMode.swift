#if os(Linux)
import Glibc

/// How a stream channel receives, as a value: the channel asks it what a receive does next and
/// tells it what the kernel answered; it executes the actions returned. No ring or socket is
/// needed to test it.
///
/// - With multishot recv (io_uring with a provided-buffer ring) one recv stays armed and its
///   completions queue chunks; a receive waits for the next arrival.
/// - When the provided buffers run out (ENOBUFS) the next ``oneShotReceivesAfterExhaustion``
///   receives are one-shot, then multishot is armed again: with more busy streams than
///   buffers, re-arming at once would only run out again.
/// - Without multishot (epoll, descriptor passing, a kernel that rejects it) every receive is a
///   one-shot recv.
/// - End of stream or an error ends receiving; what is queued is still returned first.
struct ReceiveMode: Equatable {
    enum State: Equatable {
        /// Nothing armed: the next receive arms multishot if it can, else receives once.
        case idle
        /// A multishot recv is armed; `stopping` once it was asked to stop (the stream's
        /// queue passed its limit), until its last completion.
        case multishot(OperationID, stopping: Bool)
        /// The provided buffers ran out: this many more receives are one-shot.
        case oneShot(remaining: Int)
        /// Nothing more arrives: end of stream (0) or the receive error's errno.
        case ended(errno: Int32)
    }

    /// What a receive with nothing queued does.
    enum Next: Equatable {
        case armMultishot
        case receiveOnce
        case waitForArrival
        case endOfStream
        case fail(errno: Int32)
    }

    /// What the channel does with one multishot completion.
    enum Arrival: Equatable {
        /// Queue the chunk (the stream is under its limit).
        case queue
        /// Queue a copy of the chunk, so the provided buffer goes back to the kernel at once;
        /// cancel operation `stop` if set (the queue just passed its limit).
        case queueCopying(stop: OperationID?)
        /// The provided buffers ran out; the next receives are one-shot.
        case exhausted
        /// The kernel does not take multishot recv: stop using it on this loop.
        case unsupported
        /// Nothing to do (a cancelled multishot's last completion, end of stream, an error).
        case none
    }

    static let oneShotReceivesAfterExhaustion = 32
    static let smallestOneShot = 4096
    static let largestOneShot = 65536

    private(set) var state = State.idle
    /// How much the next one-shot receive into fresh memory asks for: 4 KiB, doubled after every
    /// receive that filled its buffer, up to 64 KiB, and back to 4 KiB after one that did not. A
    /// stream that is merely waiting holds 4 KiB; a stream under a flood of large messages soon
    /// takes each in one receive instead of sixteen.
    private(set) var oneShotCapacity = smallestOneShot

    /// The armed multishot recv, if any.
    var multishot: OperationID? {
        if case .multishot(let id, _) = state { return id }
        return nil
    }

    /// What a receive does when nothing is queued; `canArmMultishot` says whether the backend
    /// offers multishot recv for this stream.
    mutating func next(canArmMultishot: Bool) -> Next {
        switch state {
        case .ended(let code): return code == 0 ? .endOfStream : .fail(errno: code)
        case .multishot: return .waitForArrival
        case .idle: return canArmMultishot ? .armMultishot : .receiveOnce
        case .oneShot(let remaining):
            state = remaining > 1 ? .oneShot(remaining: remaining - 1) : .idle
            return .receiveOnce
        }
    }

    /// A multishot recv was armed as `id`.
    mutating func armed(_ id: OperationID) {
        state = .multishot(id, stopping: false)
    }

    /// A completion of the armed multishot recv: `result` bytes (or a negated errno), `more`
    /// false on its last completion, `queuedBytes` what the stream holds already (its limit is
    /// `limit`).
    mutating func multishotCompleted(result: Int32, more: Bool, queuedBytes: Int, limit: Int) -> Arrival {
        let armed = multishot
        if !more, armed != nil { state = .idle }
        if result > 0 {
            guard queuedBytes >= limit else { return .queue }
            if more, case .multishot(let id, stopping: false) = state {
                state = .multishot(id, stopping: true)
                return .queueCopying(stop: id)
            }
            return .queueCopying(stop: nil)
        }
        switch result {
        case 0:
            state = .ended(errno: 0)
        case -ENOBUFS:
            state = .oneShot(remaining: Self.oneShotReceivesAfterExhaustion)
            return .exhausted
        case -EINVAL where queuedBytes == 0:
            return .unsupported
        case -ECANCELED:
            break
        default:
            state = .ended(errno: -result)
        }
        return .none
    }

    /// A one-shot receive of `capacity` bytes returned `result` (bytes, 0 at end of stream, or a
    /// negated errno); `adaptsCapacity` for receives into fresh memory of ``oneShotCapacity``.
    mutating func receivedOnce(result: Int32, capacity: Int, adaptsCapacity: Bool) {
        if result > 0 {
            if adaptsCapacity {
                oneShotCapacity = Int(result) == capacity ? min(oneShotCapacity * 2, Self.largestOneShot) : Self.smallestOneShot
            }
        } else {
            state = .ended(errno: -result)
        }
    }
}
#endif
