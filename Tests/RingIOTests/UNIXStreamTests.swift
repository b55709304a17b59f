import Glibc
import RingIO
import RingIOTestSupport
import Testing

@Suite(.timeLimit(.minutes(2))) struct UNIXStreamTests {
    @Test(arguments: TestBackends.all)
    func theGuidesUNIXClientAndServerExchangeALine(backend: BackendPreference) async throws {
        let path = try temporaryDirectory() + "/hello.sock"
        try await withTestRuntime(backend) {
            let server = try await createUNIXServer(path: path)
            #expect(server.localAddress.description == path)
            #expect(server.port == nil)
            let client = try await connectUNIX(path: path)
            let accepted = try await server.accept()
            try await client.sendAll("Client\n")
            let name = try await accepted.receiveUntil("\n", maxBytes: 1024)
            try await accepted.sendAll("Hello, \(text(name))\n")
            let answer = try await client.receiveUntil("\n", maxBytes: 1024)
            #expect(text(answer) == "Hello, Client")
            await client.close()
            await accepted.close()
            await server.close()
        }
    }

    @Test(arguments: TestBackends.all)
    func abstractNamesNeedNoFile(backend: BackendPreference) async throws {
        let name = uniqueAbstractName()
        try await withTestRuntime(backend) {
            let server = try await createUNIXServer(path: name)
            let client = try await connectUNIX(path: name)
            let accepted = try await server.accept()
            try await client.sendAll("abstract")
            let received = try await accepted.receiveExactly(8)
            #expect(text(received) == "abstract")
            await client.close()
            await accepted.close()
            await server.close()
        }
    }

    @Test(arguments: TestBackends.all)
    func closingTheServerRemovesItsSocketFileAndAppliesTheMode(backend: BackendPreference) async throws {
        let path = try temporaryDirectory() + "/mode.sock"
        try await withTestRuntime(backend) {
            let server = try await createUNIXServer(path: path, mode: 0o600)
            var status = stat()
            #expect(stat(path, &status) == 0)
            #expect(status.st_mode & 0o777 == 0o600)
            await server.close()
            #expect(access(path, F_OK) != 0)
        }
    }

    @Test(arguments: TestBackends.all)
    func aPathLongerThanSunPathIsAClearError(backend: BackendPreference) async throws {
        let path = "/tmp/" + String(repeating: "x", count: 120)
        try await withTestRuntime(backend) {
            let server = await #expect(throws: RingIOError.self) { try await createUNIXServer(path: path) }
            #expect(server?.code == .invalidArgument)
            #expect(server?.message.contains("at most 107 fit in sun_path") == true)
            let client = await #expect(throws: RingIOError.self) { try await connectUNIX(path: path) }
            #expect(client?.code == .invalidArgument)
        }
    }

    @Test(arguments: TestBackends.all)
    func aPathInUseByALiveServerIsNotTakenOver(backend: BackendPreference) async throws {
        let path = try temporaryDirectory() + "/live.sock"
        try await withTestRuntime(backend) {
            let first = try await createUNIXServer(path: path)
            let error = await #expect(throws: RingIOError.self) { try await createUNIXServer(path: path, replaceStaleSocket: true) }
            #expect(error?.code == .addressInUse)
            #expect(error?.message == "createUNIXServer: a server is already listening on \(path)")
            let client = try await connectUNIX(path: path)
            let accepted = try await first.accept()
            await client.close()
            await accepted.close()
            await first.close()
        }
    }

    @Test(arguments: TestBackends.all)
    func aStaleSocketFileIsReportedAndReplacedOnRequest(backend: BackendPreference) async throws {
        let path = try temporaryDirectory() + "/stale.sock"
        // A server that died: the socket file stays, nobody accepts on it.
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { target in
            for (index, byte) in path.utf8.enumerated() { target[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0)
        close(fd)
        try await withTestRuntime(backend) {
            let error = await #expect(throws: RingIOError.self) { try await createUNIXServer(path: path) }
            #expect(error?.code == .addressInUse)
            #expect(error?.message.contains("stale socket file") == true)
            let server = try await createUNIXServer(path: path, replaceStaleSocket: true)
            let client = try await connectUNIX(path: path)
            let accepted = try await server.accept()
            await client.close()
            await accepted.close()
            await server.close()
        }
    }

    @Test(arguments: TestBackends.all)
    func connectingToAMissingPathNamesThePath(backend: BackendPreference) async throws {
        let path = try temporaryDirectory() + "/missing.sock"
        try await withTestRuntime(backend) {
            let error = await #expect(throws: RingIOError.self) { try await connectUNIX(path: path) }
            #expect(error?.errno == ENOENT)
            #expect(error?.message == "connect to \(path): no such file or directory (ENOENT)")
        }
    }

    @Test(arguments: TestBackends.all)
    func fiveHundredConcurrentClientsAreServed(backend: BackendPreference) async throws {
        try raiseDescriptorLimit(to: 8192)
        let path = try temporaryDirectory() + "/many.sock"
        try await withTestRuntime(backend) {
            let server = try await createUNIXServer(path: path)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await withThrowingDiscardingTaskGroup { handlers in
                        for try await client in server.acceptConnections() {
                            handlers.addTask {
                                try await client.closeAfter { client in
                                    let line = try await client.receiveUntil("\n", maxBytes: 100)
                                    try await client.sendAll(Array(line) + Array("\n".utf8))
                                }
                            }
                        }
                    }
                }
                let correct = try await withThrowingTaskGroup(of: Bool.self) { clients in
                    for index in 0..<500 {
                        clients.addTask {
                            let client = try await connectUNIX(path: path)
                            return try await client.closeAfter { client in
                                try await client.sendAll("unix \(index)\n")
                                return text(try await client.receiveUntil("\n", maxBytes: 100)) == "unix \(index)"
                            }
                        }
                    }
                    var count = 0
                    for try await ok in clients where ok { count += 1 }
                    return count
                }
                #expect(correct == 500)
                await server.close()
                try await group.waitForAll()
            }
        }
    }

    @Test(arguments: TestBackends.all)
    func peerCredentialsNameThisProcess(backend: BackendPreference) async throws {
        let name = uniqueAbstractName()
        try await withTestRuntime(backend) {
            let server = try await createUNIXServer(path: name)
            let client = try await connectUNIX(path: name)
            let accepted = try await server.accept()
            let credentials = try await accepted.peerCredentials
            #expect(credentials.processID == getpid())
            #expect(credentials.userID == getuid())
            #expect(credentials.groupID == getgid())
            await client.close()
            await accepted.close()
            await server.close()
        }
    }

    @Test(arguments: TestBackends.all)
    func descriptorsTravelWithBytes(backend: BackendPreference) async throws {
        let name = uniqueAbstractName()
        try await withTestRuntime(backend) {
            let server = try await createUNIXServer(path: name)
            let client = try await connectUNIX(path: name)
            let accepted = try await server.accept()
            var pipeEnds: [Int32] = [0, 0]
            try #require(pipe(&pipeEnds) == 0)
            try await client.sendAll("fd", descriptors: [pipeEnds[0]])
            close(pipeEnds[0])
            let (bytes, descriptors) = try await accepted.receiveDescriptors(maxBytes: 10)
            #expect(text(bytes) == "fd")
            #expect(descriptors.count == 1)
            let received = try #require(descriptors.first)
            #expect(write(pipeEnds[1], "through the pipe", 16) == 16)
            var buffer = [UInt8](repeating: 0, count: 16)
            #expect(read(received, &buffer, 16) == 16)
            #expect(String(decoding: buffer, as: UTF8.self) == "through the pipe")
            close(received)
            close(pipeEnds[1])
            await client.close()
            await accepted.close()
            await server.close()
        }
    }

    @Test(arguments: TestBackends.all)
    func descriptorsNeedBytesAndAUNIXStream(backend: BackendPreference) async throws {
        try await withStreamPair(backend) { _, client in
            let tcp = await #expect(throws: RingIOError.self) { try await client.sendAll("x", descriptors: [0]) }
            #expect(tcp?.code == .invalidArgument)
            let credentials = await #expect(throws: RingIOError.self) { _ = try await client.peerCredentials }
            #expect(credentials?.code == .invalidArgument)
        }
        let name = uniqueAbstractName()
        try await withTestRuntime(backend) {
            let server = try await createUNIXServer(path: name)
            let client = try await connectUNIX(path: name)
            let empty = await #expect(throws: RingIOError.self) { try await client.sendAll([UInt8](), descriptors: [0]) }
            #expect(empty?.code == .invalidArgument)
            await client.close()
            await server.close()
        }
    }
}
