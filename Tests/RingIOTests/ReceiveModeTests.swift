import Glibc
import Testing

@testable import RingIORuntime

/// Every transition of a stream channel's receive mode, as a value: no loop, no ring, no socket.
@Suite struct ReceiveModeTests {
    private let first = OperationID(slot: 1, generation: 1)
    private let limit = 65536

    @Test func aStreamWithMultishotArmsItOnceAndThenWaitsForArrivals() {
        var mode = ReceiveMode()
        #expect(mode.next(canArmMultishot: true) == .armMultishot)
        mode.armed(first)
        #expect(mode.multishot == first)
        #expect(mode.next(canArmMultishot: true) == .waitForArrival)
        #expect(mode.multishotCompleted(result: 100, more: true, queuedBytes: 0, limit: limit) == .queue)
        #expect(mode.next(canArmMultishot: true) == .waitForArrival)
    }

    @Test func withoutMultishotEveryReceiveIsOneShot() {
        var mode = ReceiveMode()
        for _ in 0..<3 { #expect(mode.next(canArmMultishot: false) == .receiveOnce) }
        mode.receivedOnce(result: 10, capacity: 4096, adaptsCapacity: false)
        #expect(mode.next(canArmMultishot: false) == .receiveOnce)
    }

    @Test func endOfStreamEndsReceivingForGood() {
        var mode = ReceiveMode()
        mode.armed(first)
        #expect(mode.multishotCompleted(result: 0, more: false, queuedBytes: 0, limit: limit) == .none)
        #expect(mode.multishot == nil)
        #expect(mode.next(canArmMultishot: true) == .endOfStream)
        #expect(mode.next(canArmMultishot: true) == .endOfStream)
    }

    @Test func aReceiveErrorIsReportedByEveryLaterReceive() {
        var mode = ReceiveMode()
        #expect(mode.next(canArmMultishot: false) == .receiveOnce)
        mode.receivedOnce(result: -ECONNRESET, capacity: 4096, adaptsCapacity: true)
        #expect(mode.next(canArmMultishot: false) == .fail(errno: ECONNRESET))
        #expect(mode.next(canArmMultishot: true) == .fail(errno: ECONNRESET))

        var armed = ReceiveMode()
        armed.armed(first)
        #expect(armed.multishotCompleted(result: -ECONNRESET, more: false, queuedBytes: 0, limit: limit) == .none)
        #expect(armed.next(canArmMultishot: true) == .fail(errno: ECONNRESET))
    }

    @Test func exhaustedProvidedBuffersGiveThirtyTwoOneShotReceivesThenMultishotAgain() {
        var mode = ReceiveMode()
        mode.armed(first)
        #expect(mode.multishotCompleted(result: -ENOBUFS, more: false, queuedBytes: 0, limit: limit) == .exhausted)
        #expect(mode.multishot == nil)
        for _ in 0..<ReceiveMode.oneShotReceivesAfterExhaustion {
            #expect(mode.next(canArmMultishot: true) == .receiveOnce)
            mode.receivedOnce(result: 10, capacity: 4096, adaptsCapacity: true)
        }
        #expect(mode.next(canArmMultishot: true) == .armMultishot)
    }

    @Test func aQueuePastItsLimitStopsTheMultishotOnceAndCopiesWhatStillArrives() {
        var mode = ReceiveMode()
        mode.armed(first)
        #expect(mode.multishotCompleted(result: 100, more: true, queuedBytes: limit, limit: limit) == .queueCopying(stop: first))
        // Asked to stop already: later arrivals are copied, and no second cancel is sent.
        #expect(mode.multishotCompleted(result: 100, more: true, queuedBytes: limit + 100, limit: limit) == .queueCopying(stop: nil))
        #expect(mode.next(canArmMultishot: true) == .waitForArrival)
        // The cancelled multishot's last completion: the next receive arms a new one.
        #expect(mode.multishotCompleted(result: -ECANCELED, more: false, queuedBytes: 0, limit: limit) == .none)
        #expect(mode.next(canArmMultishot: true) == .armMultishot)
    }

    @Test func aLastArrivalPastTheLimitIsCopiedWithoutACancel() {
        var mode = ReceiveMode()
        mode.armed(first)
        #expect(mode.multishotCompleted(result: 100, more: false, queuedBytes: limit, limit: limit) == .queueCopying(stop: nil))
        #expect(mode.multishot == nil)
    }

    @Test func aKernelThatRejectsMultishotWithAnEmptyQueueTurnsItOff() {
        var mode = ReceiveMode()
        mode.armed(first)
        #expect(mode.multishotCompleted(result: -EINVAL, more: false, queuedBytes: 0, limit: limit) == .unsupported)
        #expect(mode.next(canArmMultishot: false) == .receiveOnce)

        // With bytes queued, EINVAL is an error of this stream, not a missing feature.
        var queued = ReceiveMode()
        queued.armed(first)
        #expect(queued.multishotCompleted(result: -EINVAL, more: false, queuedBytes: 10, limit: limit) == .none)
        #expect(queued.next(canArmMultishot: true) == .fail(errno: EINVAL))
    }

    @Test func oneShotCapacityDoublesAfterFullReceivesAndFallsBackAfterAShortOne() {
        var mode = ReceiveMode()
        #expect(mode.oneShotCapacity == 4096)
        for expected in [8192, 16384, 32768, 65536, 65536] {
            mode.receivedOnce(result: Int32(mode.oneShotCapacity), capacity: mode.oneShotCapacity, adaptsCapacity: true)
            #expect(mode.oneShotCapacity == expected)
        }
        mode.receivedOnce(result: 1, capacity: mode.oneShotCapacity, adaptsCapacity: true)
        #expect(mode.oneShotCapacity == 4096)
        // Pooled receives (epoll) and recvmsg leave it alone.
        mode.receivedOnce(result: 4096, capacity: 4096, adaptsCapacity: false)
        #expect(mode.oneShotCapacity == 4096)
    }
}
