extension ByteBuffer {
    /// The bytes as text, strictly decoded as UTF-8.
    ///
    /// `String(decoding: buffer, as: UTF8.self)` never fails: it replaces every malformed byte
    /// with U+FFFD. Use this instead where a peer must send valid text, so that a malformed line
    /// is rejected with an error that says where it went wrong.
    ///
    /// ```swift
    /// let line = try await stream.receiveUntil("\n", maxBytes: 1024)
    /// let name = try line.utf8String()  // throws .invalidText for "\u{FF}abc"
    /// ```
    ///
    /// - Returns: the text.
    /// - Throws: ``RingIOError`` `.invalidText`, naming the offset and value of the first byte that
    ///   is not valid UTF-8 (a truncated sequence at the end included); the bytes are in
    ///   ``RingIOError/partialData``.
    public func utf8String() throws(RingIOError) -> String {
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = makeIterator()
        var offset = 0
        var text = String.UnicodeScalarView()
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded):
                text.append(Unicode.UTF8.decode(encoded))
                offset += encoded.count
            case .emptyInput:
                return String(text)
            case .error(let length):
                let first = self[offset]
                let problem =
                    offset + length >= count && Self.isLeadingByte(first)
                    ? "the text ends inside the multi-byte sequence that starts"
                    : "the text is not valid UTF-8"
                throw RingIOError(
                    .invalidText,
                    "\(problem) at byte offset \(offset) (0x\(String(first, radix: 16, uppercase: true))) of \(count) bytes",
                    partialData: self)
            }
        }
    }

    /// Whether `byte` starts a multi-byte UTF-8 sequence.
    private static func isLeadingByte(_ byte: UInt8) -> Bool {
        (0xC2...0xF4).contains(byte)
    }
}
