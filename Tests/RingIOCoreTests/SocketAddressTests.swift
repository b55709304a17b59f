import RingIOCore
import Testing

@Suite struct SocketAddressTests {
    @Test func ipv4FormatsAsDottedQuadWithPort() {
        let address = SocketAddress.ipv4((127, 0, 0, 1), port: 8080)
        #expect(address.host == "127.0.0.1")
        #expect(address.description == "127.0.0.1:8080")
    }

    @Test(arguments: [
        ([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1] as [UInt8], "::1"),
        ([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], "::"),
        ([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1], "2001:db8::1:0:0:1"),
        ([0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1], "2001:db8:1:0:1:1:1:1"),
        ([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1], "::ffff:127.0.0.1"),
    ])
    func ipv6FollowsRFC5952(bytes: [UInt8], expected: String) {
        let tuple = (
            bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
            bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
        )
        let address = SocketAddress.ipv6(tuple, port: 443, scopeID: 0)
        #expect(address.host == expected)
        #expect(address.description == "[\(expected)]:443")
    }

    @Test func mappedIPv4IsUnmapped() {
        let mapped = SocketAddress.ipv6((0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3), port: 9, scopeID: 0)
        #expect(mapped.unmappingIPv4 == .ipv4((10, 1, 2, 3), port: 9))
    }
}
