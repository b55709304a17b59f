import Glibc
public import RingIOTLS

/// Certificates for the TLS tests, made once per test process with the `openssl` command in a
/// temporary directory (nothing secret is committed): a CA; a server certificate for
/// `localhost` and 127.0.0.1 signed by it; one for another host name; an expired one; and a
/// self-signed one no client trusts.
public struct TestPKI: Sendable {
    /// Where the certificates and keys are.
    public let directory: String

    /// The process's PKI, made on first use.
    public static let shared: Result<TestPKI, TestPKIError> = Result { () throws(TestPKIError) in try TestPKI.make() }

    /// Why the PKI could not be made (the command that failed).
    public struct TestPKIError: Error, CustomStringConvertible {
        public let description: String
    }

    /// The CA certificate every client context trusts.
    public var caFile: String { directory + "/ca.pem" }
    /// The certificate file of `name`.
    public func certificate(_ name: String) -> String { directory + "/\(name).pem" }
    /// The private key file of `name`.
    public func key(_ name: String) -> String { directory + "/\(name).key" }

    /// A server context for certificate `name` (`server`, `otherhost`, `expired`, `selfsigned`).
    public func serverContext(_ name: String = "server", alpn: [String] = [], maximumVersion: TLSConfiguration.Version? = nil) throws
        -> TLSContext
    {
        var configuration = TLSConfiguration.server(
            certificateChain: .file(certificate(name)), privateKey: .file(key(name)), applicationProtocols: alpn)
        configuration.maximumVersion = maximumVersion
        return try TLSContext(configuration)
    }

    /// A client context that trusts the test CA.
    public func clientContext(alpn: [String] = [], minimumVersion: TLSConfiguration.Version = .tls12) throws -> TLSContext {
        var configuration = TLSConfiguration.client(trustRoots: .file(caFile), applicationProtocols: alpn)
        configuration.minimumVersion = minimumVersion
        return try TLSContext(configuration)
    }

    private static func make() throws(TestPKIError) -> TestPKI {
        guard let directory = try? temporaryDirectory() else { throw TestPKIError(description: "cannot create a directory") }
        let config = """
            [ ca ]
            default_ca = test
            [ test ]
            dir = \(directory)
            database = \(directory)/index.txt
            new_certs_dir = \(directory)
            serial = \(directory)/serial
            default_md = sha256
            policy = any
            copy_extensions = copy
            unique_subject = no
            [ any ]
            commonName = supplied
            """
        let key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
        guard let file = fopen(directory + "/ca.cnf", "w") else { throw TestPKIError(description: "cannot write ca.cnf") }
        fputs(config + "\n", file)
        fclose(file)
        let commands = [
            ": > index.txt && echo 1000 > serial",
            "openssl req -x509 \(key) -keyout ca.key -out ca.pem -subj '/CN=RingIO Test CA' -days 30 -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign",
            "openssl req \(key) -keyout server.key -out server.csr -subj '/CN=localhost' -addext subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1",
            "openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in server.csr -out server.pem -days 30 -notext",
            "openssl req \(key) -keyout otherhost.key -out otherhost.csr -subj '/CN=other.example' -addext subjectAltName=DNS:other.example",
            "openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in otherhost.csr -out otherhost.pem -days 30 -notext",
            "openssl req \(key) -keyout expired.key -out expired.csr -subj '/CN=localhost' -addext subjectAltName=DNS:localhost,IP:127.0.0.1",
            "openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in expired.csr -out expired.pem -startdate 20200101000000Z -enddate 20200102000000Z -notext",
            "openssl req -x509 \(key) -keyout selfsigned.key -out selfsigned.pem -subj '/CN=localhost' -days 30 -addext subjectAltName=DNS:localhost,IP:127.0.0.1",
        ]
        for command in commands {
            guard system("cd '\(directory)' && ( \(command) ) >/dev/null 2>&1") == 0 else {
                throw TestPKIError(description: "certificate generation failed: \(command)")
            }
        }
        return TestPKI(directory: directory)
    }
}

/// The shared PKI, or a recorded failure that names the command that failed.
public func testPKI() throws -> TestPKI {
    switch TestPKI.shared {
    case .success(let pki): return pki
    case .failure(let error): throw error
    }
}
