/// The deadlines of the loop's waiting operations, earliest first (a binary min-heap); one per
/// loop, whatever the backend: the backend is only told how long it may wait.
///
/// Removal is lazy: a timer whose operation finished first stays in the heap until it reaches
/// the top (the loop then ignores it, the operation's slot no longer arms a timer), and the heap
/// is rebuilt without such entries when they outnumber the live ones. Loop-confined.
struct TimerHeap {
    struct Entry {
        var deadline: ContinuousClock.Instant
        var id: OperationID
    }

    private var entries: [Entry] = []
    /// Timers armed and neither fired nor disarmed.
    private(set) var liveCount = 0

    var earliest: ContinuousClock.Instant? { entries.first?.deadline }

    mutating func insert(_ id: OperationID, deadline: ContinuousClock.Instant) {
        entries.append(Entry(deadline: deadline, id: id))
        siftUp(entries.count - 1)
        liveCount += 1
    }

    /// Notes that one armed timer will not be needed; rebuilds when stale entries dominate.
    mutating func noteDisarmed(isLive: (OperationID) -> Bool) {
        liveCount -= 1
        if entries.count > 64 && entries.count > 4 * max(liveCount, 1) {
            entries = entries.filter { isLive($0.id) }
            for index in stride(from: entries.count / 2 - 1, through: 0, by: -1) { siftDown(index) }
        }
    }

    /// Removes and returns every entry due at `now`.
    mutating func popDue(now: ContinuousClock.Instant, into due: inout [OperationID]) {
        while let first = entries.first, first.deadline <= now {
            due.append(first.id)
            let last = entries.removeLast()
            if !entries.isEmpty {
                entries[0] = last
                siftDown(0)
            }
        }
    }

    /// Records that a popped entry belonged to a live timer.
    mutating func noteFired() { liveCount -= 1 }

    private mutating func siftUp(_ index: Int) {
        var child = index
        while child > 0 {
            let parent = (child - 1) / 2
            guard entries[child].deadline < entries[parent].deadline else { return }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ index: Int) {
        var parent = index
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < entries.count && entries[left].deadline < entries[smallest].deadline { smallest = left }
            if right < entries.count && entries[right].deadline < entries[smallest].deadline { smallest = right }
            if smallest == parent { return }
            entries.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
