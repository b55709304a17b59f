#if os(Linux)
import CLiburing
import CRingIOSystem
import Glibc
import RingIOCore
import Synchronization

/// A provided buffer ring: fixed-size receive buffers the kernel picks from for multishot recv.
///
/// A completion names the buffer it filled; the loop wraps it in a ``ByteBuffer`` without
/// copying, and the buffer returns to the ring when the last `ByteBuffer` referring to it is
/// gone. When every buffer is out (with the user), a recv completes with ENOBUFS and the stream
/// falls back to a one-off receive into heap memory: no data is lost, the kernel keeps it queued.
///
/// `@unchecked Sendable`: the ring's tail is advanced only on the loop thread. `reclaim` from
/// other threads only appends to `returned` (a mutex) and the loop hands those buffers back at
/// the start of its next turn. The slab is freed in `deinit`, when no `ByteBuffer` refers to it.
final class URingBufferRing: ByteStorageOwner, @unchecked Sendable {
    let group: UInt16
    let entries: UInt32
    let bufferSize: Int
    private let ring: UnsafeMutablePointer<io_uring>
    private let ringMemory: UnsafeMutableRawPointer
    private let ringBytes: Int
    private let slab: UnsafeMutableRawPointer
    private let loopThread: pthread_t
    private let returned = Lock<[UInt16]>([])
    private let returnedCount = Atomic<Int>(0)
    private let registered = Atomic<Bool>(false)

    /// Registers `entries` buffers of `bufferSize` bytes as group `group`; `nil` if the kernel refuses.
    init?(ring: UnsafeMutablePointer<io_uring>, group: UInt16, entries: UInt32 = 512, bufferSize: Int = 16384) {
        self.ring = ring
        self.group = group
        self.entries = entries
        self.bufferSize = bufferSize
        self.loopThread = pthread_self()
        ringBytes = Int(entries) * MemoryLayout<io_uring_buf>.stride
        guard let memory = mmap(nil, ringBytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0),
            memory != MAP_FAILED
        else { return nil }
        ringMemory = memory
        slab = UnsafeMutableRawPointer.allocate(byteCount: Int(entries) * bufferSize, alignment: 4096)
        // Touch every page now: the ring hands buffers out round-robin, so all of them are used
        // soon anyway, and faulting them in here keeps page faults off the receive path and the
        // resident size steady from the start.
        slab.initializeMemory(as: UInt8.self, repeating: 0, count: Int(entries) * bufferSize)
        guard ringio_register_buf_ring(ring, memory, entries, group) == 0 else {
            munmap(memory, ringBytes)
            slab.deallocate()
            return nil
        }
        registered.store(true, ordering: .releasing)
        let bufferRing = memory.assumingMemoryBound(to: io_uring_buf_ring.self)
        io_uring_buf_ring_init(bufferRing)
        let mask = io_uring_buf_ring_mask(entries)
        for index in 0..<Int(entries) {
            io_uring_buf_ring_add(bufferRing, slab + index * bufferSize, UInt32(bufferSize), UInt16(index), mask, Int32(index))
        }
        io_uring_buf_ring_advance(bufferRing, Int32(entries))
    }

    /// Wraps buffer `id`, which the kernel filled with `length` bytes, as a `ByteBuffer`.
    func take(_ id: UInt16, length: Int) -> ByteBuffer {
        precondition(Int(id) < Int(entries) && length <= bufferSize, "provided buffer \(id) with \(length) bytes is out of range")
        let storage = ByteStorage(borrowing: slab + Int(id) * bufferSize, capacity: bufferSize, owner: self, token: Int(id))
        return ByteBuffer(storage: storage, lower: 0, upper: length)
    }

    func reclaim(_ base: UnsafeMutableRawPointer, token: Int) {
        guard registered.load(ordering: .acquiring) else { return }
        if LoopThread.isCurrent(loopThread) {
            give(UInt16(token))
        } else {
            returned.withLock { $0.append(UInt16(token)) }
            returnedCount.add(1, ordering: .releasing)
        }
    }

    /// Hands back the buffers released on other threads (loop thread, once per turn).
    func drainReturned() {
        guard returnedCount.load(ordering: .acquiring) > 0 else { return }
        let ids = returned.withLock { ids -> [UInt16] in
            let taken = ids
            ids.removeAll(keepingCapacity: true)
            return taken
        }
        returnedCount.subtract(ids.count, ordering: .releasing)
        for id in ids { give(id) }
    }

    private func give(_ id: UInt16) {
        let bufferRing = ringMemory.assumingMemoryBound(to: io_uring_buf_ring.self)
        io_uring_buf_ring_add(bufferRing, slab + Int(id) * bufferSize, UInt32(bufferSize), id, io_uring_buf_ring_mask(entries), 0)
        io_uring_buf_ring_advance(bufferRing, 1)
    }

    /// Unregisters the ring before the io_uring is torn down. Buffers still held stay valid.
    func unregister() {
        guard registered.exchange(false, ordering: .acquiringAndReleasing) else { return }
        _ = io_uring_unregister_buf_ring(ring, Int32(group))
        munmap(ringMemory, ringBytes)
    }

    deinit {
        slab.deallocate()
    }
}

/// Memory that `send` copies caller-owned bytes into while the kernel reads them (the caller's
/// `[UInt8]` or `String` cannot be pinned across a suspension). Two sizes: 4 KiB blocks for small
/// sends, 64 KiB for large ones, so thousands of concurrent small sends do not each hold 64 KiB.
/// Up to 64 free blocks of each size are kept. Loop-confined.
final class URingSendStaging {
    /// A block on loan to one send.
    struct Block {
        let base: UnsafeMutableRawPointer
        let capacity: Int
    }

    static let smallSize = 4096
    static let largeSize = 65536
    private var small: [UnsafeMutableRawPointer] = []
    private var large: [UnsafeMutableRawPointer] = []
    private let keep = 64

    /// A block for sending `count` bytes (the large size when `count` exceeds the small one;
    /// larger sends go through it a block at a time).
    func acquire(for count: Int) -> Block {
        if count <= Self.smallSize {
            return Block(base: small.popLast() ?? .allocate(byteCount: Self.smallSize, alignment: 64), capacity: Self.smallSize)
        }
        return Block(base: large.popLast() ?? .allocate(byteCount: Self.largeSize, alignment: 64), capacity: Self.largeSize)
    }

    /// Returns a block from ``acquire(for:)``.
    func release(_ block: Block) {
        if block.capacity == Self.smallSize {
            if small.count < keep { small.append(block.base) } else { block.base.deallocate() }
        } else {
            if large.count < keep { large.append(block.base) } else { block.base.deallocate() }
        }
    }

    func releaseAll() {
        for block in small + large { block.deallocate() }
        small = []
        large = []
    }
}
#endif
