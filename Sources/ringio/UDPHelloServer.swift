import ArgumentParser
import RingIO

/// The guide's UDP "hello" service: answers each datagram with `Hello, ` and the datagram.
struct UDPHelloServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "udp-hello-server", abstract: "Answer each UDP datagram with \"Hello, \" followed by the datagram, to its sender.")

    @Option(help: "The address to listen on (default: every interface, IPv6 and IPv4).")
    var host: String?

    @Option(help: "The port to listen on; 0 picks a free port.")
    var port: Int = 0

    @OptionGroup var backendOption: BackendOption

    func run() async throws {
        Console.startLogging(defaultLevel: .info)
        let (host, port) = (host, port)
        try await RingIO.run(backend: try backendOption.preference) {
            let socket = try await createUDPSocket(host: host, port: port)
            Console.say("listening on \(socket.localAddress)")
            let signals = TerminationSignals { await socket.close() }
            defer { signals.cancel() }
            for try await (packet, sender) in socket.receivePackets(maxBytes: 65536) {
                do {
                    try await socket.send(Array("Hello, ".utf8) + Array(packet), to: sender)
                } catch {
                    Console.complain("reply to \(sender): \(error)")
                }
            }
        }
    }
}
