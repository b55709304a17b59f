#!/usr/bin/env python3
"""Writes the committed seed inputs (Fuzz/corpus/<target>/) and the reproducers of the known
issues (Fuzz/crashes/) in the harnesses' input format (Fuzz/Support/FuzzInput.swift):

    [flags] [payload length: 2 bytes LE] [payload] [n] [n chunk sizes] [tape...]

The TLS seeds hold real handshake messages: a ClientHello that `openssl s_client` sends (TLS 1.3
and TLS 1.2 only), and the first flight `openssl s_server` answers it with. Run from anywhere:
    python3 Fuzz/make_seeds.py
It needs the openssl command; it makes a throwaway certificate for s_server in a temporary folder.
"""
import os
import socket
import subprocess
import tempfile
import threading
import time

FUZZ = os.path.dirname(os.path.abspath(__file__))


def unit(flags, payload=b"", sizes=(), tape=()):
    payload = bytes(payload)
    return bytes([flags, len(payload) & 255, len(payload) >> 8]) + payload + bytes([len(sizes)]) + bytes(sizes) + bytes(tape)


def write(folder, name, data):
    path = os.path.join(FUZZ, folder)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, name), "wb") as file:
        file.write(data)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def capture_client_hello(extra):
    """The bytes `openssl s_client` sends first (its ClientHello)."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    client = subprocess.Popen(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost", *extra],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    connection, _ = listener.accept()
    connection.settimeout(1.0)
    data = b""
    try:
        while True:
            chunk = connection.recv(65536)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        pass
    connection.close()
    listener.close()
    client.kill()
    client.wait()
    return data


def capture_server_flight(client_hello, directory, extra):
    """What `openssl s_server` answers `client_hello` with (ServerHello and the rest of its flight)."""
    port = free_port()
    server = subprocess.Popen(
        ["openssl", "s_server", "-accept", str(port), "-cert", f"{directory}/cert.pem", "-key", f"{directory}/key.pem",
         "-naccept", "1", "-quiet", *extra],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(50):
        try:
            connection = socket.create_connection(("127.0.0.1", port))
            break
        except OSError:
            time.sleep(0.1)
    connection.sendall(client_hello)
    connection.settimeout(1.0)
    data = b""
    try:
        while True:
            chunk = connection.recv(65536)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        pass
    connection.close()
    server.kill()
    server.wait()
    return data


def bytestream_seeds():
    # Operations (ByteStreamHarness.step): 0 receiveSome(n), 2 receiveExactly(n), 4 receiveUntil(d, n),
    # 6 takeBufferedData, 7 delimited chunks(d, n, limit), 8 receiveChunks(n, limit),
    # 9 x: 0 re-enter, 1 source fails, 2 close during receive, 3 close, 4 check bufferedData.
    # Delimiters: 0 "\n", 1 "\r\n", 2 "\r\n\r\n", 3 NUL, 4 then (k, k+1 bytes): custom.
    seeds = {
        "http-request": unit(0, b"GET / HTTP/1.1\r\nHost: example\r\nContent-Length: 5\r\n\r\nhello", [3, 1, 7, 0],
                             [4, 1, 100, 4, 1, 100, 4, 1, 100, 4, 1, 100, 2, 5, 9, 4]),
        "http-headers-block": unit(1, b"a: b\r\nc: d\r\n\r\nbody", [1, 2, 3], [4, 2, 64, 8, 100, 0]),
        "lines-delimited": unit(0, b"alpha\nbeta\n\ngamma\n", [1], [7, 0, 16, 0]),
        "lines-partial-record": unit(0, b"one\ntwo\nthree", [], [7, 0, 32, 0]),
        "record-too-long": unit(0, b"x" * 40 + b"\n" + b"tail\n", [5], [4, 0, 16, 2, 20, 4, 0, 64, 6]),
        "multipart-boundary": unit(0, b"--bnd\r\npart1--bnd\r\npart2--bn", [4, 0],
                                   [4, 4, 4, *b"--bnd", 100, 4, 4, 4, *b"--bnd", 100, 6]),
        "nul-delimited-slices": unit(1, b"k1\0v1\0k2\0v2\0", [3], [7, 3, 10, 0]),
        "receive-some-sizes": unit(1, bytes(range(64)), [7, 13, 0], [0, 5, 0, 50, 2, 30, 0, 1, 6]),
        "busy-fail-close": unit(0, b"abc\ndef\nghi\n", [2], [9, 0, 4, 0, 50, 9, 1, 2, 20, 2, 3, 9, 2, 0, 5, 0, 5]),
        "many-small-chunks": unit(1, b"0123456789" * 8 + b"\r\n", [1], [2, 40, 0, 3, 4, 1, 100, 8, 7, 0]),
    }
    for name, data in seeds.items():
        write("corpus/bytestream", name, data)
    write("crashes", "bytestream-empty-delimiter-accepted", unit(0, b"", [], [9, 3, 4, 0x87, 5]))
    write("crashes", "bytestream-empty-delimiter-sequence-never-ends", unit(0, b"ab\n", [], [7, 0x87, 10, 0]))


def tls_seeds():
    # Flags: bit 0 client, bit 1 real peer, bit 2 standard-compatible, bit 3 initial ciphertext,
    # bits 4-5 peer version (2 = TLS 1.2, 3 = TLS 1.3). Tape: [handshake trick (0 send fails,
    # 1 receive fails, else none)], then operations (TLSHarness.step): 0 receive(n), 2 send(n),
    # 3 peer sends n, 4 peer close_notify, 5 peer key update (b), 6 peer renegotiates,
    # 7 inject n bytes, 8 cut n, 9 sendCloseNotify, 10 transport trick (b % 3: 0 send fails,
    # 1 receive fails, 2 next send yields (b >> 2 & 3) + 1 times), 11 pump, 12 send n from a
    # second task, 13 yield to the other task.
    with tempfile.TemporaryDirectory() as directory:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{directory}/key.pem", "-out", f"{directory}/cert.pem", "-subj", "/CN=localhost", "-days", "30",
             "-addext", "subjectAltName=DNS:localhost"], check=True, capture_output=True)
        hello13 = capture_client_hello([])
        hello12 = capture_client_hello(["-tls1_2"])
        flight13 = capture_server_flight(hello13, directory, [])
        flight12 = capture_server_flight(hello12, directory, ["-tls1_2"])
    assert hello13[:1] == b"\x16" and hello12[:1] == b"\x16", "no ClientHello captured"
    assert flight13[:1] == b"\x16" and flight12[:1] == b"\x16", "no server flight captured"
    none = 0xFF
    seeds = {
        "raw-server-clienthello-tls13": unit(0x00, hello13, [], [none]),
        "raw-server-clienthello-tls12-chunked": unit(0x04, hello12, [5, 0], [none]),
        "raw-server-initial-ciphertext": unit(0x08, hello13, [], [100, none]),
        "raw-client-serverflight-tls13": unit(0x01, flight13, [], [none]),
        "raw-client-serverflight-tls12": unit(0x05, flight12, [7, 0], [none]),
        "peer-server-tls13": unit(0x32, b"", [], [none, 3, 100, 0, 50, 0, 60, 2, 80, 5, 1, 0, 10, 3, 20, 4, 0, 100, 0, 100]),
        "peer-client-tls13-key-update": unit(0x37, b"", [0, 9], [none, 3, 120, 5, 1, 0, 100, 2, 30, 5, 0, 0, 100, 4]),
        "peer-server-tls12-renegotiation": unit(0x22, b"", [], [none, 3, 100, 0, 199, 6, 0, 50, 2, 10]),
        "peer-client-tls12-ragged-eof": unit(0x27, b"", [], [none, 3, 50, 0, 50, 9, 3, 10, 0, 10]),
        "peer-server-tampered-hello": unit(0x32, bytes(5) + b"\x01", [], [none]),
        "peer-client-injected-garbage": unit(0x33, b"", [], [none, 3, 30, 7, 5, 1, 2, 3, 4, 5, 0, 100]),
        "peer-server-cut-record": unit(0x36, b"", [3], [none, 3, 30, 8, 3, 0, 100]),
        "peer-client-send-fails": unit(0x23, b"", [], [none, 3, 30, 10, 0, 2, 10, 0, 10]),
        "peer-server-handshake-send-fails": unit(0x02, b"", [], [0]),
        "peer-client-initial-ciphertext": unit(0x0B, b"", [], [50, none, 3, 10, 0, 10]),
        "peer-server-background-send-key-update": unit(0x32, b"", [], [none, 10, 14, 12, 100, 13, 5, 1, 3, 30, 0, 50, 13, 2, 20, 9, 13, 0, 100]),
        "peer-client-overlapping-sends": unit(0x33, b"", [], [none, 10, 14, 2, 30, 12, 40, 13, 10, 2, 12, 50, 2, 60, 13, 13, 3, 20, 0, 30]),
    }
    for name, data in seeds.items():
        write("corpus/tls", name, data)
    # TLS 1.2 server peer asks the client under test to renegotiate; the client refuses, the peer
    # answers with a fatal alert (a receive fails with .tlsFailure), and the next receive returns
    # end of stream although no close_notify came and the session is standard-compatible.
    write("crashes", "tls-end-of-stream-after-fatal-alert", unit(0x27, b"", [], [none, 6, 0, 105]))
    # The next transport send yields 4 times; a second task sends 140,000 bytes (more than the
    # 64 KiB the session encrypts at a time) and is suspended in its first write; this task then
    # sends close_notify, which goes out between the two chunks, and the second chunk fails.
    write("crashes", "tls-close-notify-during-send", unit(0x32, b"", [], [none, 10, 14, 12, 0xFF, 13, 9, 13]))
    # The next transport send fails; the send after it, on the broken session, throws without bytesTransferred.
    write("crashes", "tls-broken-send-without-bytes-transferred", unit(0x33, b"", [], [none, 10, 0, 2, 30, 2, 40]))


if __name__ == "__main__":
    bytestream_seeds()
    tls_seeds()
