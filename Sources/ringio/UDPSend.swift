import ArgumentParser
import RingIO

/// The guide's connected UDP client: sends one datagram to a target.
struct UDPSend: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "udp-send", abstract: "Send one datagram from a connected UDP socket.")

    @Option(help: "The target's host name or address.")
    var host: String = "localhost"

    @Option(help: "The target's port.")
    var port: Int

    @Option(help: "The datagram, exactly as given (default: \"Hi there!\" and a newline).")
    var message: String = "Hi there!\n"

    @OptionGroup var backendOption: BackendOption

    func run() async throws {
        Console.startLogging(defaultLevel: .warning)
        let (host, port, message) = (host, port, message)
        do {
            try await RingIO.run(backend: try backendOption.preference) {
                let socket = try await createUDPSocket(targetHost: host, targetPort: port)
                try await socket.send(message)
                await socket.close()
            }
        } catch let error as RingIOError {
            Console.complain("ringio udp-send: \(error)")
            throw ExitCode.failure
        }
    }
}
