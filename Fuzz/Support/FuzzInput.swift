/// A fuzz input split into its parts: a flags byte, a payload (the byte stream, or the bytes a
/// TLS peer sends), the chunk sizes of that payload, and a tape of control bytes that the
/// harness reads as it goes (operations and their arguments).
///
/// Layout: `[flags] [payload length: 2 bytes, little endian] [payload] [n] [n chunk sizes] [tape...]`.
/// A length longer than what follows is cut to what follows, so every input is valid. Chunk
/// sizes are used in turn, over and over; 0 (or no sizes at all) means as many bytes as asked
/// for. When the tape runs out, ``byte()`` returns 0 and ``isExhausted`` becomes true; harnesses
/// stop issuing operations then. A class, because the harness and its fakes share it.
final class FuzzInput {
    let flags: UInt8
    let payload: [UInt8]
    private let chunkSizes: [UInt8]
    private var nextChunkSize = 0
    private let tape: ArraySlice<UInt8>
    private var position: Int

    init(_ data: [UInt8]) {
        flags = data.first ?? 0
        let length = data.count >= 3 ? Int(data[1]) | Int(data[2]) << 8 : 0
        let start = min(3, data.count)
        let end = min(start + length, data.count)
        payload = Array(data[start..<end])
        let sizesCount = end < data.count ? Int(data[end]) : 0
        let sizesEnd = min(end + 1 + sizesCount, data.count)
        chunkSizes = end < data.count ? Array(data[(end + 1)..<sizesEnd]) : []
        tape = data[sizesEnd...]
        position = sizesEnd
    }

    var isExhausted: Bool { position >= tape.endIndex }

    /// The next control byte (0 once the tape is exhausted).
    func byte() -> UInt8 {
        guard position < tape.endIndex else { return 0 }
        defer { position += 1 }
        return tape[position]
    }

    /// The size of the next chunk a fake hands out, when `maxBytes` (at least 1) are asked for.
    func chunkSize(maxBytes: Int) -> Int {
        guard !chunkSizes.isEmpty else { return maxBytes }
        let size = chunkSizes[nextChunkSize % chunkSizes.count]
        nextChunkSize += 1
        return size == 0 ? maxBytes : min(Int(size), maxBytes)
    }

    /// A count for a receive argument: mostly small, sometimes up to about 12,000, and now and
    /// then the edge values 0, -1, a larger negative number, or `Int.max`.
    func count() -> Int {
        let first = byte()
        switch first {
        case 0..<200: return Int(first)
        case 200..<248: return Int(first - 200) << 8 | Int(byte())
        case 248, 249: return 0
        case 250, 251: return -1
        case 252, 253: return -Int(byte()) - 2
        default: return Int.max
        }
    }
}
