import Synchronization

/// Runs async code to completion on the calling thread, for `LLVMFuzzerTestOneInput`, which is
/// synchronous and must not return before the input's work is done.
///
/// The body runs in a task whose executor preference is this executor, and its child tasks
/// (task groups, `async let`) inherit the preference, so every job of theirs (a first run, a
/// resumption after a suspension, a `Task.yield()`) is enqueued here and run in order by
/// ``run(_:)`` on the fuzzer's own thread: no thread pool, no blocking wait, and the same
/// interleaving for the same input. Fakes that never suspend make the whole body one job. When
/// the queue is empty and the body has not finished, something awaits a resumption that can
/// never come (a lost continuation, a waiter never woken): that is reported as a failure instead
/// of hanging.
///
/// Sendable (as every executor must be) without `@unchecked`: the job queue is a `Mutex`, so
/// `enqueue` is safe from any thread, though only the fuzzer's thread calls it in practice.
final class InlineExecutor: TaskExecutor {
    private let jobs = Mutex<[UnownedJob]>([])

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        jobs.withLock { $0.append(job) }
    }

    /// Runs `body` until it returns; traps if it is left waiting with nothing left to run.
    func run(_ body: sending @escaping () async -> Void) {
        let finished = Finished()
        Task(executorPreference: self) {
            await body()
            finished.flag.store(true, ordering: .releasing)
        }
        var jobsRun = 0
        while true {
            let batch = jobs.withLock { queue -> [UnownedJob] in
                defer { queue.removeAll(keepingCapacity: true) }
                return queue
            }
            if batch.isEmpty { break }
            for job in batch {
                job.runSynchronously(on: asUnownedTaskExecutor())
                jobsRun += 1
            }
        }
        check(
            finished.flag.load(ordering: .acquiring),
            "InlineExecutor: the fuzz body is suspended with no job left to run after \(jobsRun) jobs (a lost continuation or an endless wait)"
        )
    }

    private final class Finished: Sendable {
        let flag = Atomic<Bool>(false)
    }
}
