/// The NUL-terminated message a C call wrote into a `[CChar]` buffer, as a String.
extension Array where Element == CChar {
    var messageText: String {
        String(decoding: prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
