import Glibc
import Testing

@testable import RingIORuntime

/// Every transition of an operation's lifecycle, as a value: no loop, no ring, no socket.
@Suite struct OperationLifecycleTests {
    private static let done = Completion(result: 42, flags: 7, interruption: nil)

    /// Suspends the test's task in `lifecycle`, runs `then` with the continuation stored, and
    /// returns what the task was resumed with (`then` must resume it, through an action).
    private func suspended(
        _ lifecycle: inout OperationLifecycle,
        then: (inout OperationLifecycle) -> Void
    ) async -> Completion {
        var copy = lifecycle
        let result = await withUnsafeContinuation { continuation in
            let early = copy.suspend(continuation)
            #expect(early == nil)
            then(&copy)
        }
        lifecycle = copy
        return result
    }

    @Test func aCompletionResumesTheSuspendedTaskOnce() async {
        var lifecycle = OperationLifecycle()
        lifecycle.start(inKernel: true, hasDeadline: false)
        #expect(lifecycle.isWaiting)
        let result = await suspended(&lifecycle) { lifecycle in
            let (action, disarms) = lifecycle.complete(with: Self.done)
            #expect(!disarms)
            guard case .resume(let continuation, let completion) = action else {
                Issue.record("expected .resume, got \(action)")
                return
            }
            // A second completion for the same operation (a stale CQE) does nothing.
            guard case (.ignore, false) = lifecycle.complete(with: Self.done) else {
                Issue.record("a second completion was not ignored")
                return
            }
            continuation.resume(returning: completion)
        }
        #expect(result.result == 42 && result.flags == 7 && result.interruption == nil)
        #expect(!lifecycle.isWaiting && !lifecycle.inKernel)
    }

    @Test func aCompletionBeforeTheTaskSuspendsIsTakenAsItSuspends() async {
        var lifecycle = OperationLifecycle()
        lifecycle.start(inKernel: false, hasDeadline: false)
        guard case (.keepForSuspend, false) = lifecycle.complete(with: Self.done) else {
            Issue.record("an early completion was not kept")
            return
        }
        let result = await withUnsafeContinuation { continuation in
            if let early = lifecycle.suspend(continuation) { continuation.resume(returning: early) }
        }
        #expect(result.result == 42)
    }

    @Test func interruptingKernelWorkCancelsItAndTheKernelResultCarriesTheReason() async {
        var lifecycle = OperationLifecycle()
        lifecycle.start(inKernel: true, hasDeadline: true)
        let result = await suspended(&lifecycle) { lifecycle in
            guard case .cancelKernelRequest = lifecycle.interrupt(.timedOut) else {
                Issue.record("kernel work was not cancelled")
                return
            }
            #expect(lifecycle.isAbandoned)
            // A second reason does not replace the first.
            guard case .ignore = lifecycle.interrupt(.closed) else {
                Issue.record("a second interruption was not ignored")
                return
            }
            // The kernel's answer to the cancel (or the result it produced meanwhile) arrives.
            let (action, disarms) = lifecycle.complete(with: Completion(result: -ECANCELED, flags: 0, interruption: nil))
            #expect(disarms, "the deadline was still armed")
            if case .resume(let continuation, let completion) = action { continuation.resume(returning: completion) }
        }
        #expect(result.result == -ECANCELED)
        #expect(result.interruption == .timedOut)
    }

    @Test func interruptingAParkedOperationCompletesItAtOnce() {
        var lifecycle = OperationLifecycle()
        lifecycle.start(inKernel: false, hasDeadline: false)
        guard case .completeNow(let completion) = lifecycle.interrupt(.closed) else {
            Issue.record("a parked operation was not completed at once")
            return
        }
        #expect(completion.result == -ECANCELED && completion.interruption == .closed)
    }

    @Test func anUninterruptibleOperationIgnoresEveryInterruption() {
        var lifecycle = OperationLifecycle()
        lifecycle.start(inKernel: true, hasDeadline: false, uninterruptible: true)
        for reason in [Interruption.cancelled, .timedOut, .closed, .shutdown, .loopFailed] {
            guard case .ignore = lifecycle.interrupt(reason) else {
                Issue.record("\(reason) interrupted an uninterruptible operation")
                return
            }
        }
        #expect(lifecycle.interruption == nil)
    }

    @Test func aDeadlineCountsOnceAndOnlyWhileWaiting() {
        var lifecycle = OperationLifecycle()
        lifecycle.start(inKernel: true, hasDeadline: true)
        let first = lifecycle.deadlinePassed()
        let second = lifecycle.deadlinePassed()
        #expect(first && !second)
        var finished = OperationLifecycle()
        finished.start(inKernel: true, hasDeadline: true)
        _ = finished.complete(with: Self.done)
        let afterCompletion = finished.deadlinePassed()
        #expect(!afterCompletion, "a completed operation's deadline still counted")
    }

    @Test func releaseFreesTheSlotUnderANewGeneration() {
        var lifecycle = OperationLifecycle()
        lifecycle.start(inKernel: true, hasDeadline: true)
        _ = lifecycle.interrupt(.cancelled)
        let generation = lifecycle.generation
        lifecycle.release()
        #expect(lifecycle.isFree && lifecycle.generation != generation)
        #expect(lifecycle.interruption == nil && !lifecycle.inKernel && !lifecycle.timerArmed)
        guard case .ignore = lifecycle.interrupt(.cancelled) else {
            Issue.record("a free slot took an interruption")
            return
        }
    }

    @Test func aMultishotOperationIsNeitherWaitingNorInterruptible() {
        var lifecycle = OperationLifecycle()
        lifecycle.startMultishot()
        #expect(lifecycle.isMultishot && lifecycle.inKernel && !lifecycle.isWaiting)
        guard case .ignore = lifecycle.interrupt(.closed), case (.ignore, false) = lifecycle.complete(with: Self.done) else {
            Issue.record("a multishot slot took a one-shot event")
            return
        }
    }
}
