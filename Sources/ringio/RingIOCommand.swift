import ArgumentParser

/// `ringio`: the AnyIO networking guide's examples, an echo server, the echo benchmark and the soak test.
@main
struct RingIOCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ringio",
        abstract: "RingIO's examples, echo server and loopback benchmark.",
        subcommands: [
            HelloServer.self, HelloClient.self, EchoServer.self, UDPHelloServer.self, UDPSend.self, StartTLSServer.self,
            StartTLSClient.self, Bench.self, Soak.self,
        ]
    )
}
