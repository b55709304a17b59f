/// How often tasks waited on event loops (see ``EventLoop/statistics``): the benchmark divides
/// the growth over a run by the messages it echoed.
package struct LoopStatistics: Sendable, Equatable {
    /// Suspensions of a task waiting for an operation's completion or a wake-up.
    package var suspensions = 0
    /// Calls that hopped onto a loop from another executor.
    package var hops = 0

    package init(suspensions: Int = 0, hops: Int = 0) {
        self.suspensions = suspensions
        self.hops = hops
    }

    package static func += (total: inout LoopStatistics, other: LoopStatistics) {
        total.suspensions += other.suspensions
        total.hops += other.hops
    }

    package static func - (after: LoopStatistics, before: LoopStatistics) -> LoopStatistics {
        LoopStatistics(suspensions: after.suspensions - before.suspensions, hops: after.hops - before.hops)
    }
}
