#if os(Linux)
import CLiburing
import CRingIOSystem
import Glibc
import RingIOCore

/// A provided buffer ring: fixed-size receive buffers the kernel picks from for multishot recv.
///
/// A completion names the buffer it filled; the loop hands it out as a ``ByteBuffer`` over that
/// buffer's ``ByteStorage``, without copying and without allocating: there is one storage object
/// per buffer, made at start-up and reused. Once per turn the loop looks at the buffers it has
/// lent and gives back to the kernel every one that no `ByteBuffer` refers to any more. When every
/// buffer is out (with the user), a recv completes with ENOBUFS and the stream falls back to a
/// one-off receive into heap memory: no data is lost, the kernel keeps it queued.
///
/// Loop-confined: created, used and torn down on its loop's thread. The slab (the buffers'
/// memory) is a separate object that every storage keeps alive, so a `ByteBuffer` kept after the
/// loop has shut down still points at valid memory.
final class URingBufferRing {
    let group: UInt16
    let entries: UInt32
    let bufferSize: Int
    private let ring: UnsafeMutablePointer<io_uring>
    private let ringMemory: UnsafeMutableRawPointer
    private let ringBytes: Int
    private let slab: Slab
    /// One storage object per buffer, index = buffer id.
    @exclusivity(unchecked) private var storages: StorageLending
    @exclusivity(unchecked) private var registered = false

    /// The receive buffers' memory, freed when the ring and every storage using it are gone.
    private final class Slab {
        let base: UnsafeMutableRawPointer

        init(byteCount: Int) {
            base = UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: 4096)
        }

        deinit { base.deallocate() }
    }

    /// Registers `entries` buffers of `bufferSize` bytes as group `group`; `nil` if the kernel refuses.
    init?(ring: UnsafeMutablePointer<io_uring>, group: UInt16, entries: UInt32 = 512, bufferSize: Int = 16384) {
        self.ring = ring
        self.group = group
        self.entries = entries
        self.bufferSize = bufferSize
        ringBytes = Int(entries) * MemoryLayout<io_uring_buf>.stride
        guard let memory = mmap(nil, ringBytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0),
            memory != MAP_FAILED
        else { return nil }
        ringMemory = memory
        let slab = Slab(byteCount: Int(entries) * bufferSize)
        self.slab = slab
        // Touch every page now: the ring hands buffers out round-robin, so all of them are used
        // soon anyway, and faulting them in here keeps page faults off the receive path and the
        // resident size steady from the start.
        slab.base.initializeMemory(as: UInt8.self, repeating: 0, count: Int(entries) * bufferSize)
        storages = StorageLending(capacity: Int(entries))
        for index in 0..<Int(entries) {
            _ = storages.add(ByteStorage(pooled: slab.base + index * bufferSize, capacity: bufferSize, poolMemory: slab))
        }
        guard ringio_register_buf_ring(ring, memory, entries, group) == 0 else {
            munmap(memory, ringBytes)
            return nil
        }
        registered = true
        let bufferRing = memory.assumingMemoryBound(to: io_uring_buf_ring.self)
        io_uring_buf_ring_init(bufferRing)
        let mask = io_uring_buf_ring_mask(entries)
        for index in 0..<Int(entries) {
            io_uring_buf_ring_add(bufferRing, slab.base + index * bufferSize, UInt32(bufferSize), UInt16(index), mask, Int32(index))
        }
        io_uring_buf_ring_advance(bufferRing, Int32(entries))
    }

    /// Wraps buffer `id`, which the kernel filled with `length` bytes, as a `ByteBuffer`.
    func take(_ id: UInt16, length: Int) -> ByteBuffer {
        precondition(Int(id) < Int(entries) && length <= bufferSize, "provided buffer \(id) with \(length) bytes is out of range")
        return ByteBuffer(storage: storages.lend(Int(id)), lower: 0, upper: length)
    }

    /// Gives back to the kernel every lent buffer that nothing refers to any more (once per turn,
    /// before the loop waits, so the kernel has them for the completions it is about to produce).
    func reclaimReleased() {
        guard registered else { return }
        var given: Int32 = 0
        let bufferRing = ringMemory.assumingMemoryBound(to: io_uring_buf_ring.self)
        let mask = io_uring_buf_ring_mask(entries)
        let (base, size) = (slab.base, bufferSize)
        storages.collect { id in
            io_uring_buf_ring_add(bufferRing, base + id * size, UInt32(size), UInt16(id), mask, given)
            given += 1
        }
        if given > 0 { io_uring_buf_ring_advance(bufferRing, given) }
    }

    /// How many buffers are out with streams or their users (after the last reclaim, plus any
    /// taken since).
    var lentCount: Int { storages.lentCount }

    /// Unregisters the ring before the io_uring is torn down. Buffers still held stay valid.
    func unregister() {
        guard registered else { return }
        registered = false
        _ = io_uring_unregister_buf_ring(ring, Int32(group))
        munmap(ringMemory, ringBytes)
    }
}
#endif
