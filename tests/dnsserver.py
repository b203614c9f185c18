"""A real DNS server on loopback (UDP and TCP) serving records a test sets, so no test needs the internet."""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
from collections import defaultdict

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


class LocalDNS:
    """Authoritative answers from an in-memory zone; unknown names get NXDOMAIN.

    `add("example.vn", "MX", "10 mx.example.vn.")`, `add("example.vn", "TXT", '"v=spf1 -all"')`;
    point a resolver at `host`/`port` (see `resolver_address`).
    """

    def __init__(self, host: str = "127.0.0.1"):
        self.host = host
        self._records: dict[tuple[dns.name.Name, int], list[str]] = defaultdict(list)
        self._lock = threading.Lock()
        self.queries: list[tuple[str, str]] = []
        handler = self._handler_class()
        # UDP and TCP on one port: the port the OS gives UDP may be taken for TCP; then try another.
        for _ in range(20):
            self._udp = socketserver.ThreadingUDPServer((host, 0), handler.Udp)
            self.port = self._udp.server_address[1]
            try:
                self._tcp = _ReusableTCPServer((host, self.port), handler.Tcp)
                break
            except OSError:
                self._udp.server_close()
        else:
            raise OSError("no port free for both UDP and TCP")
        self._threads = [
            # A short poll interval: shutdown() waits for it, and tests close a server each.
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
                             name="local-dns")
            for server in (self._udp, self._tcp)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def resolver_address(self) -> str:
        """The 'host:port' form services take in GOVMAIL_DNS_RESOLVER."""
        return f"{self.host}:{self.port}"

    def add(self, name: str, rdtype: str, value: str) -> None:
        key = (dns.name.from_text(name), dns.rdatatype.from_text(rdtype))
        with self._lock:
            self._records[key].append(value)

    def remove(self, name: str, rdtype: str | None = None) -> None:
        wanted = dns.name.from_text(name)
        with self._lock:
            for key in [k for k in self._records if k[0] == wanted]:
                if rdtype is None or key[1] == dns.rdatatype.from_text(rdtype):
                    del self._records[key]

    def answer(self, wire: bytes) -> bytes:
        query = dns.message.from_wire(wire)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        question = query.question[0]
        self.queries.append((question.name.to_text(omit_final_dot=True), dns.rdatatype.to_text(question.rdtype)))
        with self._lock:
            values = list(self._records.get((question.name, question.rdtype), []))
            name_exists = any(key[0] == question.name for key in self._records)
        if values:
            response.answer.append(
                dns.rrset.from_text_list(question.name, 60, dns.rdataclass.IN, question.rdtype, values)
            )
        elif not name_exists:
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response.to_wire()

    def close(self) -> None:
        for server in (self._udp, self._tcp):
            server.shutdown()
            server.server_close()

    def _handler_class(self):
        dns_server = self

        class Udp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                sock.sendto(dns_server.answer(data), self.client_address)

        class Tcp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                head = _read_exactly(self.request, 2)
                if head is None:
                    return
                data = _read_exactly(self.request, struct.unpack("!H", head)[0])
                if data is None:
                    return
                reply = dns_server.answer(data)
                self.request.sendall(struct.pack("!H", len(reply)) + reply)

        class Handlers:
            pass

        Handlers.Udp, Handlers.Tcp = Udp, Tcp
        return Handlers


class _ReusableTCPServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def _read_exactly(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data
