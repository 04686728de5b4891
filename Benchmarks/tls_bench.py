"""Workload 6 of `make bench`: TLS through strictrun's broker vs direct.

A loopback HTTPS server (Benchmarks/tls_upstream.js, node) with a certificate from a throw-away
CA; curl as the client; a generated profile (microkernel + `tls: {ports: [PORT], action: route,
trust: CA}`) so that under strictrun every connection to PORT goes through the broker, which
terminates curl's TLS with a per-run CA and opens verified TLS to the server.

* handshakes: one curl process, 100 new connections (`Connection: close`, `--no-sessionid`: a full
  handshake each); the figure is the median of curl's `time_appconnect` (TCP connect + TLS
  handshake) over the 100.
* throughput: one 256 MiB download; the figure is curl's `speed_download`.

Which CA bundle curl reads matters more than the broker: OpenSSL 3.0 parses the whole bundle for
every new connection (~20 ms for Debian's 140 roots). "small bundle" rows give curl one CA
(the test CA directly, the broker's CA under strictrun: a `sh -c` wrapper points CURL_CA_BUNDLE
at strictrun's NODE_EXTRA_CA_CERTS); "as launched" rows use system roots + that CA, which is what
strictrun sets up (CURL_CA_BUNDLE, SSL_CERT_FILE, ...).
"""
import os
import socket
import statistics
import subprocess

from harness import HERE, S, WORK, Variant, Workload, log, strace, strictrun

HANDSHAKES = 100
BULK_MB = 256


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def appconnect_ms(output: str):
    """Median time_appconnect (ms) of curl's `-w` lines."""
    values = []
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                values.append(float(parts[1]) * 1000)
            except ValueError:
                pass
    return statistics.median(values) if len(values) >= HANDSHAKES // 2 else None


def first_ms(output: str):
    """curl's time_appconnect (ms) of its one request."""
    try:
        return float(output.strip().split()[-1]) * 1000
    except (ValueError, IndexError):
        return None


def speed_mbs(output: str):
    try:
        return float(output.strip().split()[-1]) / 1e6
    except (ValueError, IndexError):
        return None


def tls_workload() -> Workload:
    directory = os.path.join(WORK, "tls")
    port = free_port()
    ca, leaf, key = (os.path.join(directory, n) for n in ("ca.pem", "leaf.pem", "leaf.key"))
    bundle = os.path.join(directory, "direct-bundle.pem")
    profile = os.path.join(directory, "tls-route.yaml")
    relay = os.path.join(directory, "tls-relay.yaml")
    host = f"localhost:{port}:127.0.0.1"
    hs = ["curl", "-sS", "--no-sessionid", "-H", "Connection: close", "--resolve", host,
          "-w", "%{time_connect} %{time_appconnect}\\n"]
    for _ in range(HANDSHAKES):
        hs += ["-o", "/dev/null", f"https://localhost:{port}/small"]
    bulk = ["curl", "-sS", "--resolve", host, "-o", "/dev/null", "-w", "%{speed_download}\\n",
            f"https://localhost:{port}/bulk?mb={BULK_MB}"]
    small_under_broker = ["sh", "-c", 'CURL_CA_BUNDLE="$NODE_EXTRA_CA_CERTS" exec "$@"', "sh"]
    # One request: under strictrun its connect() starts the broker (lazily, on the tracer thread).
    first = ["curl", "-sS", "--resolve", host, "-o", "/dev/null", "-w", "%{time_connect} %{time_appconnect}\\n",
             f"https://localhost:{port}/small"]
    handshake = ("handshake", "ms", appconnect_ms)
    first_request = ("first request", "ms", first_ms)
    speed = ("throughput", "MB/s", speed_mbs)
    variants = [
        Variant("handshakes, direct (small bundle)", hs, "bare", env={"CURL_CA_BUNDLE": ca}, metric=handshake,
                key="hs-direct"),
        strictrun(profile, small_under_broker + hs, label="handshakes, strictrun broker (small bundle)",
                  metric=handshake, key="hs-broker", ref="hs-direct"),
        Variant("first request, direct (small bundle)", first, "bare", env={"CURL_CA_BUNDLE": ca},
                metric=first_request, key="first-direct", ref="first-direct"),
        strictrun(profile, small_under_broker + first, label="first request, strictrun broker started by it "
                  "(small bundle)", metric=first_request, key="first-broker", ref="first-direct"),
        Variant("handshakes, direct (system roots + CA)", hs, "bare", env={"CURL_CA_BUNDLE": bundle},
                metric=handshake, key="hs-direct-launched", ref="hs-direct"),
        strictrun(profile, hs, label="handshakes, strictrun broker (as launched)", metric=handshake,
                  key="hs-broker-launched", ref="hs-direct"),
        strace(hs, label="handshakes, strace -f direct (small bundle)", env={"CURL_CA_BUNDLE": ca},
               metric=handshake, key="hs-strace", ref="hs-direct"),
        Variant(f"{BULK_MB} MiB, direct", bulk, "bare", env={"CURL_CA_BUNDLE": ca}, metric=speed, key="bulk-direct",
                ref="bulk-direct"),
        strictrun(profile, bulk, label=f"{BULK_MB} MiB, strictrun broker", metric=speed, key="bulk-broker",
                  ref="bulk-direct"),
        strictrun(relay, ["sh", "-c", f'CURL_CA_BUNDLE="{ca}" exec "$@"', "sh"] + bulk,
                  label=f"{BULK_MB} MiB, strictrun broker in relay mode (no re-encryption)", metric=speed,
                  key="bulk-relay", ref="bulk-direct"),
        strace(bulk, label=f"{BULK_MB} MiB, strace -f direct", env={"CURL_CA_BUNDLE": ca}, metric=speed,
               key="bulk-strace", ref="bulk-direct", rounds=2, warm=False),
    ]

    def setup():
        os.makedirs(directory, exist_ok=True)

        def openssl(*args):
            subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
                "-subj", "/CN=strictrun bench CA", "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr",
                "-subj", "/CN=localhost")
        with open(os.path.join(directory, "ext.cnf"), "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                    "extendedKeyUsage=serverAuth\n")
        openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", "leaf.pem", "-days", "2", "-extfile", "ext.cnf")
        with open(bundle, "w") as out:
            for path in ("/etc/ssl/certs/ca-certificates.crt", ca):
                with open(path) as f:
                    out.write(f.read() + "\n")
        with open(profile, "w") as f:
            f.write(f"# make bench, workload 6: microkernel with TLS to port {port} routed to the broker.\n"
                    f"name: tls-route\nextends: microkernel\n"
                    f"tls:\n  ports: [{port}]\n  action: route\n  trust: {ca}\n")
        with open(relay, "w") as f:
            f.write(f"# make bench, workload 6: the same, but the broker relays the bytes (no re-encryption).\n"
                    f"name: tls-relay\nextends: microkernel\n"
                    f"tls:\n  ports: [{port}]\n  action: route\n  mode: relay\n")
        server = subprocess.Popen(["node", os.path.join(HERE, "tls_upstream.js"), str(port), leaf, key],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = server.stdout.readline()
        if not line.startswith("ready"):
            server.kill()
            raise RuntimeError(f"tls_upstream.js did not start: {line}")
        log(f"[tls] upstream on 127.0.0.1:{port} (pid {server.pid})")

        def cleanup():
            server.terminate()
            try:
                server.wait(timeout=5)
            except subprocess.TimeoutExpired:
                server.kill()
        return cleanup

    return Workload("tls", f"TLS: {HANDSHAKES} handshakes and a {BULK_MB} MiB download, curl through strictrun's "
                           "broker vs direct", variants, rounds=9, setup=setup, ref_label="direct (same kind of run)",
                    note=f"A loopback HTTPS server (node), curl as the client; under strictrun the profile "
                         f"routes the server's port to the broker (`tls: action: route`). Handshake = median "
                         f"of curl's time_appconnect over {HANDSHAKES} new connections of one curl process; "
                         f"throughput = curl's speed_download. OpenSSL 3.0 in curl parses its whole CA "
                         f"bundle for every connection (~20 ms with the system roots), so the small-bundle "
                         f"rows isolate the broker; the as-launched rows are what a user sees. In relay "
                         f"mode the broker passes the TLS bytes through and curl verifies the server itself.")


def routing_available() -> str:
    """'' when this strictrun accepts a `tls: action: route` profile, else why not."""
    path = os.path.join(WORK, "tls-probe.yaml")
    os.makedirs(WORK, exist_ok=True)
    with open(path, "w") as f:
        f.write("name: tls-probe\nextends: microkernel\ntls:\n  ports: [8443]\n  action: route\n")
    done = subprocess.run([S, "profile", "check", path], capture_output=True, text=True)
    if done.returncode == 0:
        return ""
    return "pending: TLS routing not merged (`strictrun profile check` rejects `tls: action: route`)"
