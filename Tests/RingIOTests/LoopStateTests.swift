import Testing

@testable import RingIORuntime

/// Every transition of an event loop's lifecycle, as a value: no thread, no backend.
@Suite struct LoopStateTests {
    private let start = ContinuousClock.now

    /// `state.shouldGiveUpWaiting(at:)`, callable inside `#expect`.
    private func givesUp(_ state: inout LoopState, at now: ContinuousClock.Instant) -> Bool {
        state.shouldGiveUpWaiting(at: now)
    }

    @Test func aStopInterruptsWithShutdownOnce() {
        var state = LoopState()
        #expect(!state.isStopping)
        #expect(state.stopRequested() == .shutdown)
        #expect(state.isStopping && !state.hasFailed)
        #expect(state.stopRequested() == nil)
    }

    @Test func aStoppingLoopExitsOnlyWithNoOperationAndNoJob() {
        var state = LoopState()
        #expect(!state.mayExit(activeOperations: 0, queuedJobs: 0))
        _ = state.stopRequested()
        #expect(!state.mayExit(activeOperations: 1, queuedJobs: 0))
        #expect(!state.mayExit(activeOperations: 0, queuedJobs: 1))
        #expect(state.mayExit(activeOperations: 0, queuedJobs: 0))
    }

    @Test func aFailureWhileRunningStopsTheLoopWithLoopFailedOnce() {
        var state = LoopState()
        #expect(state.backendFailed(at: start) == .beginStopping(.loopFailed))
        #expect(state.isStopping && state.hasFailed)
        #expect(state.backendFailed(at: start + .seconds(5)) == .alreadyFailed)
        // A stop requested after the failure changes nothing.
        #expect(state.stopRequested() == nil)
    }

    @Test func aFailureDuringAShutdownKeepsTheShutdownButStillGivesUpWaiting() {
        var state = LoopState()
        _ = state.stopRequested()
        #expect(state.backendFailed(at: start) == .alreadyStopping)
        #expect(state.hasFailed)
        #expect(givesUp(&state, at: start + .seconds(2)))
    }

    @Test func operationsOfAFailedLoopAreGivenUpEverySecond() {
        var state = LoopState()
        #expect(!givesUp(&state, at: start + .seconds(10)))
        _ = state.backendFailed(at: start)
        #expect(!givesUp(&state, at: start + .milliseconds(500)))
        #expect(givesUp(&state, at: start + .milliseconds(1500)))
        #expect(!givesUp(&state, at: start + .milliseconds(2000)))
        #expect(givesUp(&state, at: start + .milliseconds(2600)))
    }

    @Test func aStoppedButHealthyLoopNeverGivesUpWaiting() {
        var state = LoopState()
        _ = state.stopRequested()
        #expect(!givesUp(&state, at: start + .seconds(3600)))
    }
}
