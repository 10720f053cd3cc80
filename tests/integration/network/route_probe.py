#!/usr/bin/env python3
"""Servers and probes for daemon-routes.sh, run inside its namespaces.

serve ADDRESS PORT BANNER READY LOG
    Answers on TCP and UDP port PORT of ADDRESS with "BANNER from PEER" (a
    TCP client gets it and the connection closed; a UDP datagram gets it as
    the reply), so a probe learns who answered and which source address the
    server saw (a NATed guest shows the address it was NATed to). Every UDP
    payload is appended to LOG as "PEER PAYLOAD", so a test can tell a
    datagram that never arrived from a reply that never came back. READY is
    created once both sockets are bound. Runs until it is killed.

probe SPEC...
    SPEC is KIND,ADDRESS,PORT,TIMEOUT,PAYLOAD (KIND tcp, udp or icmp; PORT
    and PAYLOAD unused by icmp). All probes run at the same time; one line
    per SPEC, in order: "SPEC RESULT" where RESULT is "answer:TEXT" (for
    icmp, "answer:pong"), "refused" (a closed port answered: the packet
    reached that host), "timeout" (nothing came back: how a drop looks) or
    "error:WHAT". A probe that gets its answer returns at once; TIMEOUT only
    bounds one that gets none.
"""
import os
import selectors
import socket
import struct
import sys
import threading
import time


def serve(address, port, banner, ready, log):
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind((address, port))
    tcp.listen(16)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((address, port))
    open(ready, "w").close()
    selector = selectors.DefaultSelector()
    selector.register(tcp, selectors.EVENT_READ)
    selector.register(udp, selectors.EVENT_READ)
    while True:
        for key, _ in selector.select():
            if key.fileobj is tcp:
                client, peer = tcp.accept()
                with client:
                    client.settimeout(5)
                    try:
                        client.sendall(f"{banner} from {peer[0]}\n".encode())
                    except OSError:
                        pass
            else:
                payload, peer = udp.recvfrom(2048)
                with open(log, "a") as out:
                    out.write(f"{peer[0]} {payload.decode(errors='replace')}\n")
                try:  # a source with no way back (a guest not NATed) is no reason to stop
                    udp.sendto(f"{banner} from {peer[0]}".encode(), peer)
                except OSError:
                    pass


def probe_tcp(address, port, timeout, _payload):
    with socket.create_connection((address, port), timeout=timeout) as conn:
        data = b""
        while chunk := conn.recv(512):
            data += chunk
        return "answer:" + data.decode(errors="replace").strip()


def probe_udp(address, port, timeout, payload):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.connect((address, port))
        sock.send(payload.encode())
        return "answer:" + sock.recv(2048).decode(errors="replace").strip()


def icmp_checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def probe_icmp(address, _port, timeout, _payload):
    ident = (os.getpid() + threading.get_ident()) & 0xFFFF
    header = struct.pack("!BBHHH", 8, 0, 0, ident, 1)
    body = b"nestbox-route-probe"
    packet = struct.pack("!BBHHH", 8, 0, icmp_checksum(header + body), ident, 1) + body
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        sock.sendto(packet, (address, 0))
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            data, peer = sock.recvfrom(2048)
            icmp = data[(data[0] & 0x0F) * 4:]
            if peer[0] == address and icmp[0] == 0 and struct.unpack("!H", icmp[4:6])[0] == ident:
                return "answer:pong"
    raise socket.timeout()


PROBES = {"tcp": probe_tcp, "udp": probe_udp, "icmp": probe_icmp}


def probe_one(spec, results, index):
    kind, address, port, timeout, payload = spec.split(",", 4)
    try:
        results[index] = PROBES[kind](address, int(port or 0), float(timeout), payload)
    except socket.timeout:
        results[index] = "timeout"
    except ConnectionRefusedError:
        results[index] = "refused"
    except OSError as error:
        results[index] = f"error:{error.strerror or error}"


def probe(specs):
    results = [None] * len(specs)
    threads = [threading.Thread(target=probe_one, args=(spec, results, i))
               for i, spec in enumerate(specs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for spec, result in zip(specs, results):
        print(spec, result)


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6])
    elif len(sys.argv) > 2 and sys.argv[1] == "probe":
        probe(sys.argv[2:])
    else:
        sys.exit(__doc__)
