"""A 3-member etcd cluster with mutual TLS for the etcd tests, started from
scratch in a temporary directory and killed (by pid) at the end.

Certificates are made here with openssl: a CA, one certificate per member
(server and peer, SAN 127.0.0.1), a client certificate for roomvpn-control,
and a second CA that etcd does not trust (for the wrong-certificate test).
Members listen on free loopback ports; start-up waits on every member's
/health, not on sleeps.

As a library:    c = EtcdCluster().start(); ...; c.stop()
In namespaces:   EtcdCluster(hosts=[(NETNS, IP), ...]): member i runs in network
  namespace NETNS on IP:2379 (clients) and IP:2380 (peers), its certificate
  names IP; health is asked inside the namespace (etcdctl). From a shell test:
  python3 etcd_cluster.py --netns NS=IP,NS=IP,NS=IP --dir DIR
  starts it, prints the environment below as NAME=VALUE lines and exits with
  the members left running (kill them by RV_ETCD_PIDS; DIR is not removed).
As a wrapper:    python3 etcd_cluster.py -- COMMAND ARGS...
  runs COMMAND with the cluster in its environment (RV_ETCD_ENDPOINTS,
  RV_ETCD_CA, RV_ETCD_CERT, RV_ETCD_KEY, RV_ETCD_PIDS in endpoint order,
  RV_ETCD_BAD_CA, RV_ETCD_BAD_CERT, RV_ETCD_BAD_KEY) and exits with its status.
Environment: RV_ETCD_BIN (default: etcd on PATH), RV_KEEP_TMP=1 keeps the
directory."""

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

ETCD_BIN = os.environ.get("RV_ETCD_BIN") or shutil.which("etcd") or "/usr/bin/etcd"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _ca(d, name):
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", name + ".key", "-out", name + ".crt", "-days", "2", "-subj",
             "/CN=" + name, "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)


def _cert(d, ca, name, eku, ip="127.0.0.1"):
    ext = os.path.join(d, name + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:%s,DNS:localhost\nextendedKeyUsage=%s\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n" % (ip, eku))
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name, cwd=d)
    _openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key",
             "-CAcreateserial", "-out", name + ".crt", "-days", "2", "-extfile", ext, cwd=d)


class EtcdCluster:
    def __init__(self, members=3, hosts=None, tmp=None):
        self.tmp = tmp or tempfile.mkdtemp(prefix="rv-etcd-")
        self.hosts = hosts  # [(netns, ip)] or None: loopback
        self.n = len(hosts) if hosts else members
        self.names = ["m%d" % i for i in range(self.n)]
        if hosts:
            self.ips = [ip for _, ip in hosts]
            self.client_ports, self.peer_ports = [2379] * self.n, [2380] * self.n
        else:
            self.ips = ["127.0.0.1"] * self.n
            ports = set()
            while len(ports) < 2 * self.n:  # the kernel may hand out a closed port again
                ports.add(_free_port())
            ports = sorted(ports)
            self.client_ports, self.peer_ports = ports[:self.n], ports[self.n:]
        self.procs = [None] * self.n
        self.pki = os.path.join(self.tmp, "pki")

    # --- certificates ---
    def _make_pki(self):
        os.makedirs(self.pki)
        _ca(self.pki, "ca")
        _ca(self.pki, "bad-ca")
        for name, ip in zip(self.names, self.ips):
            _cert(self.pki, "ca", name, "serverAuth,clientAuth", ip)
        _cert(self.pki, "ca", "client", "clientAuth")
        _cert(self.pki, "bad-ca", "bad-client", "clientAuth")

    def path(self, name):
        return os.path.join(self.pki, name)

    @property
    def endpoints(self):
        return ",".join(self.endpoint(i) for i in range(self.n))

    def endpoint(self, i):
        return "https://%s:%d" % (self.ips[i], self.client_ports[i])

    def _member_cmd(self, i):
        name = self.names[i]
        peer = ["https://%s:%d" % (self.ips[j], self.peer_ports[j]) for j in range(self.n)]
        cluster = ",".join("%s=%s" % (self.names[j], peer[j]) for j in range(self.n))
        crt, key, ca = self.path(name + ".crt"), self.path(name + ".key"), self.path("ca.crt")
        netns = ["ip", "netns", "exec", self.hosts[i][0]] if self.hosts else []
        return netns + [ETCD_BIN, "--name", name, "--data-dir", os.path.join(self.tmp, name),
                "--listen-client-urls", self.endpoint(i),
                "--advertise-client-urls", self.endpoint(i),
                "--listen-peer-urls", peer[i], "--initial-advertise-peer-urls", peer[i],
                "--initial-cluster", cluster, "--initial-cluster-state", "new",
                "--initial-cluster-token", os.path.basename(self.tmp),
                "--client-cert-auth", "--trusted-ca-file", ca, "--cert-file", crt,
                "--key-file", key, "--peer-client-cert-auth", "--peer-trusted-ca-file", ca,
                "--peer-cert-file", crt, "--peer-key-file", key,
                # Fast elections on loopback: the leader-kill test waits less.
                "--heartbeat-interval", "50", "--election-timeout", "500",
                "--logger", "zap", "--log-outputs", os.path.join(self.tmp, name + ".log")]

    def start(self, timeout=30.0):
        self._make_pki()
        for i in range(self.n):
            self.procs[i] = subprocess.Popen(self._member_cmd(i), stdout=subprocess.DEVNULL,
                                             stderr=subprocess.DEVNULL,
                                             start_new_session=bool(self.hosts))
        try:
            self.wait_healthy(range(self.n), timeout)
        except Exception:
            self.stop()
            raise
        return self

    def _ssl(self):
        ctx = ssl.create_default_context(cafile=self.path("ca.crt"))
        ctx.load_cert_chain(self.path("client.crt"), self.path("client.key"))
        return ctx

    def healthy(self, i):
        if self.hosts:  # not reachable from here: etcdctl in its namespace
            return subprocess.run(
                ["ip", "netns", "exec", self.hosts[i][0], "etcdctl", "--endpoints",
                 self.endpoint(i), "--cacert", self.path("ca.crt"), "--cert",
                 self.path("client.crt"), "--key", self.path("client.key"),
                 "--command-timeout=2s", "endpoint", "health"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                env=dict(os.environ, ETCDCTL_API="3")).returncode == 0
        try:
            with urllib.request.urlopen(self.endpoint(i) + "/health", context=self._ssl(),
                                        timeout=2) as r:
                return json.loads(r.read()).get("health") == "true"
        except Exception:
            return False

    def wait_healthy(self, members, timeout=30.0):
        """Waits until every member in @members answers /health true."""
        deadline = time.monotonic() + timeout
        pending = set(members)
        while pending:
            for i in list(pending):
                if self.procs[i].poll() is not None:
                    raise RuntimeError("etcd member %s exited (%s):\n%s" % (
                        self.names[i], self.procs[i].returncode, self.log(i)))
                if self.healthy(i):
                    pending.discard(i)
            if pending and time.monotonic() > deadline:
                raise RuntimeError("etcd members %s not healthy after %.0f s:\n%s" % (
                    sorted(pending), timeout, self.log(min(pending))))
            if pending:
                time.sleep(0.05)

    def log(self, i, tail=3000):
        try:
            with open(os.path.join(self.tmp, self.names[i] + ".log")) as f:
                return f.read()[-tail:]
        except OSError:
            return ""

    def env(self):
        return {
            "RV_ETCD_ENDPOINTS": self.endpoints,
            "RV_ETCD_CA": self.path("ca.crt"),
            "RV_ETCD_CERT": self.path("client.crt"),
            "RV_ETCD_KEY": self.path("client.key"),
            "RV_ETCD_BAD_CA": self.path("bad-ca.crt"),
            "RV_ETCD_BAD_CERT": self.path("bad-client.crt"),
            "RV_ETCD_BAD_KEY": self.path("bad-client.key"),
            "RV_ETCD_PIDS": ",".join(str(p.pid) for p in self.procs),
        }

    def control_config(self):
        """The roomvpn-control keys for this cluster."""
        return {"store": "etcd:" + self.endpoints, "etcd_ca": self.path("ca.crt"),
                "etcd_cert": self.path("client.crt"), "etcd_key": self.path("client.key")}

    def stop(self):
        for p in self.procs:
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
        if os.environ.get("RV_KEEP_TMP") != "1":
            shutil.rmtree(self.tmp, ignore_errors=True)


def serve_in_netns(argv):
    """--netns NS=IP,... --dir DIR: start, print the environment, leave running."""
    hosts = [tuple(x.split("=", 1)) for x in argv[argv.index("--netns") + 1].split(",")]
    tmp = argv[argv.index("--dir") + 1]
    os.makedirs(tmp, exist_ok=True)
    os.environ["RV_KEEP_TMP"] = "1"  # a failed start leaves the logs
    c = EtcdCluster(hosts=hosts, tmp=tmp).start()
    for k, v in sorted(c.env().items()):
        print("%s=%s" % (k, v))
    return 0


def main(argv):
    if "--netns" in argv and "--dir" in argv:
        return serve_in_netns(argv)
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        print("usage: etcd_cluster.py -- COMMAND ARGS...", file=sys.stderr)
        return 2
    cmd = argv[argv.index("--") + 1:]
    t0 = time.monotonic()
    c = EtcdCluster().start()
    print("etcd cluster up in %.2f s: %s" % (time.monotonic() - t0, c.endpoints), flush=True)
    try:
        env = dict(os.environ)
        env.update(c.env())
        return subprocess.run(cmd, env=env).returncode
    finally:
        c.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
