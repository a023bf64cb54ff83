"""test_install.py - what `cmake --install` and the Debian package put
where, on the build that ctest runs from (the directory two levels above
$BATOND, or $BATON_BUILD_DIR).

  * `cmake --install BUILD --prefix /usr` with DESTDIR=<tmp>: every file
    of the layout (programs, unit, sysusers.d, tmpfiles.d, man pages,
    examples, /etc/baton) with its mode; the unit passes
    `systemd-analyze verify` and rates 2.0 or lower in
    `systemd-analyze security`; the man pages render without a warning;
  * a second install keeps an edited /etc/baton/rules.conf;
  * another prefix rewrites the unit's and tmpfiles.d's paths;
  * `cpack -G DEB`: the control fields (name, version, architecture, the
    Debian library packages in Depends), conffiles, maintainer scripts,
    and a file list equal to the DESTDIR install's.

Tools it needs (skipped with a reason when absent): systemd-analyze
(package systemd), groff and man (groff-base, man-db), cpack, dpkg-deb
and dpkg-shlibdeps (dpkg-dev).
"""

import gzip
import os
import re
import shutil
import stat
import subprocess
import tempfile
import unittest

import harness

BUILD_DIR = os.environ.get("BATON_BUILD_DIR") or os.path.dirname(
    os.path.dirname(os.path.abspath(harness.BATOND)))
SRC = harness.SOURCE_DIR

MAN_PAGES = {"man8/batond.8.gz": "batond.8",
             "man1/batonctl.1.gz": "batonctl.1",
             "man5/batond.conf.5.gz": "batond.conf.5",
             "man5/baton-rules.5.gz": "baton-rules.5"}

# path -> (type, mode); "f" file, "d" directory.
LAYOUT = {
    "usr/sbin/batond": ("f", 0o755),
    "usr/bin/batonctl": ("f", 0o755),
    "usr/lib/systemd/system/batond.service": ("f", 0o644),
    "usr/lib/sysusers.d/baton.conf": ("f", 0o644),
    "usr/lib/tmpfiles.d/baton.conf": ("f", 0o644),
    "usr/share/doc/baton/examples/batond.conf": ("f", 0o644),
    "usr/share/doc/baton/examples/rules.conf": ("f", 0o644),
    "etc/baton": ("d", 0o750),
    "etc/baton/connectors.d": ("d", 0o750),
    "etc/baton/batond.conf": ("f", 0o640),
    "etc/baton/rules.conf": ("f", 0o640),
}
for _p in MAN_PAGES:
    LAYOUT["usr/share/man/" + _p] = ("f", 0o644)

LIBRARY_PACKAGES = ["libevent-2.1-7", "libcurl4", "libjansson4",
                    "libhiredis0.14", "libssl3", "libpcre2-8-0"]


def run(args, env=None, check=True, timeout=300):
    r = subprocess.run(args, capture_output=True, text=True, env=env,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise AssertionError(f"{args!r} exited {r.returncode}:\n"
                             f"{r.stdout}\n{r.stderr}")
    return r


def need(*tools):
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        raise unittest.SkipTest("not installed: " + " ".join(missing))


def install(prefix, destdir=None):
    env = dict(os.environ)
    env.pop("DESTDIR", None)
    if destdir is not None:
        env["DESTDIR"] = destdir
    return run(["cmake", "--install", BUILD_DIR, "--prefix", prefix],
               env=env)


def tree(root):
    """{relative path: (type, mode)} of everything under root."""
    out = {}
    for d, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(d, name)
            st = os.lstat(p)
            kind = "d" if stat.S_ISDIR(st.st_mode) else "f"
            out[os.path.relpath(p, root)] = (kind, stat.S_IMODE(st.st_mode))
    return out


def exposure(unit):
    """systemd-analyze security's overall figure for a unit file."""
    r = run(["systemd-analyze", "security", "--offline=true", unit])
    m = re.search(r"Overall exposure level for batond\.service: "
                  r"(\d+\.\d+)", r.stdout)
    if m is None:
        raise AssertionError("no overall exposure level in:\n" + r.stdout)
    return float(m.group(1))


def verify(unit, root, manpath):
    """systemd-analyze verify of a copy of unit whose programs point into
    root (systemd-analyze checks that they exist on this machine)."""
    with open(unit) as f:
        text = f.read()
    text = text.replace("ExecStart=/usr/sbin/",
                        f"ExecStart={root}/usr/sbin/")
    text = text.replace("ExecReload=/usr/sbin/",
                        f"ExecReload={root}/usr/sbin/")
    d = tempfile.mkdtemp(prefix="baton-unit-")
    try:
        copy = os.path.join(d, "batond.service")
        with open(copy, "w") as f:
            f.write(text)
        env = dict(os.environ, MANPATH=manpath)
        return run(["systemd-analyze", "verify", copy], env=env,
                   check=False)
    finally:
        shutil.rmtree(d)


class Install(unittest.TestCase):

    maxDiff = None

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(os.path.join(BUILD_DIR, "CMakeCache.txt")):
            raise unittest.SkipTest(f"{BUILD_DIR} is not a build "
                                    f"directory (set BATON_BUILD_DIR)")
        need("cmake")
        cls.tmp = tempfile.mkdtemp(prefix="baton-install-")
        cls.root = os.path.join(cls.tmp, "root")
        cls.first = install("/usr", cls.root)

    @classmethod
    def tearDownClass(cls):
        if os.environ.get("BATON_KEEP_TMP") != "1":
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def path(self, rel):
        return os.path.join(self.root, rel)

    def test_layout_and_modes(self):
        got = tree(self.root)
        for rel, want in LAYOUT.items():
            self.assertIn(rel, got, f"{rel} not installed")
            self.assertEqual(got[rel], want, f"{rel}: (type, mode)")
        # Nothing else but the directories leading there.
        dirs = set()
        for p in LAYOUT:
            while p:
                p = os.path.dirname(p)
                dirs.add(p)
        extra = sorted(p for p in got if p not in LAYOUT and p not in dirs)
        self.assertEqual(extra, [], "unexpected files")
        for rel in ("etc/baton/batond.conf", "etc/baton/rules.conf"):
            with open(self.path(rel)) as a, \
                    open(os.path.join(SRC, "conf",
                                      os.path.basename(rel))) as b:
                self.assertEqual(a.read(), b.read(), rel)
        r = run([self.path("usr/sbin/batond"), "--version"])
        self.assertRegex(r.stdout, r"^batond \d+\.\d+\.\d+\n$")

    def test_unit_paths(self):
        with open(self.path("usr/lib/systemd/system/batond.service")) as f:
            unit = f.read()
        self.assertIn("\nExecStart=/usr/sbin/batond -c "
                      "/etc/baton/batond.conf\n", unit)
        self.assertIn("\nType=notify\n", unit)
        self.assertIn("\nWatchdogSec=", unit)
        self.assertIn("\nUser=baton\n", unit)
        with open(os.path.join(SRC, "systemd", "batond.service")) as f:
            self.assertEqual(unit, f.read(), "prefix /usr changes nothing")
        with open(self.path("usr/lib/sysusers.d/baton.conf")) as f:
            self.assertRegex(f.read(), r"(?m)^u\s+baton\s+-\s")
        with open(self.path("usr/lib/tmpfiles.d/baton.conf")) as f:
            self.assertRegex(f.read(),
                             r"(?m)^d\s+/etc/baton\s+0750\s+root\s+baton\s")

    def test_unit_verifies(self):
        need("systemd-analyze")
        for unit in (self.path("usr/lib/systemd/system/batond.service"),
                     os.path.join(SRC, "systemd", "batond.service")):
            r = verify(unit, self.root, self.path("usr/share/man"))
            self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""),
                             unit)

    def test_unit_security_exposure(self):
        need("systemd-analyze")
        level = exposure(self.path("usr/lib/systemd/system/batond.service"))
        print(f"systemd-analyze security: {level}")
        self.assertLessEqual(level, 2.0)

    def test_sysusers_and_tmpfiles_apply(self):
        need("systemd-sysusers", "systemd-tmpfiles")
        scratch = os.path.join(self.tmp, "sysroot")
        os.makedirs(os.path.join(scratch, "etc"), exist_ok=True)
        for f in ("passwd", "group", "shadow", "gshadow"):
            if os.path.exists("/etc/" + f):
                shutil.copy("/etc/" + f, os.path.join(scratch, "etc", f))
        run(["systemd-sysusers", "--root=" + scratch,
             self.path("usr/lib/sysusers.d/baton.conf")])
        with open(os.path.join(scratch, "etc", "passwd")) as f:
            line = [l for l in f if l.startswith("baton:")]
        self.assertEqual(len(line), 1)
        self.assertRegex(line[0], r"^baton:x:\d+:\d+:baton lead lifecycle "
                         r"daemon:/nonexistent:/usr/sbin/nologin\n$")
        run(["systemd-tmpfiles", "--root=" + scratch, "--create",
             self.path("usr/lib/tmpfiles.d/baton.conf")])
        for d in ("etc/baton", "etc/baton/connectors.d"):
            st = os.stat(os.path.join(scratch, d))
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o750, d)

    def test_man_pages_render(self):
        need("groff", "man")
        for rel, name in MAN_PAGES.items():
            with gzip.open(self.path("usr/share/man/" + rel), "rt") as f:
                text = f.read()
            with open(os.path.join(SRC, "man", name)) as f:
                self.assertEqual(text, f.read(), rel)
            r = subprocess.run(["groff", "-mandoc", "-ww", "-z"],
                               input=text, capture_output=True, text=True)
            self.assertEqual((r.returncode, r.stderr), (0, ""), rel)
            env = dict(os.environ, MANWIDTH="80", LANG="C.UTF-8")
            r = run(["man", "--warnings", "-l",
                     self.path("usr/share/man/" + rel)], env=env)
            self.assertEqual(r.stderr, "", rel)
            title = name.rsplit(".", 1)[0].upper()
            self.assertRegex(r.stdout, r"^" + re.escape(title) + r"\(\d\)")
            self.assertIn("NAME", r.stdout)

    def test_second_install_keeps_configuration(self):
        rules = self.path("etc/baton/rules.conf")
        with open(rules, "a") as f:
            f.write("# edited by an operator\n")
        r = install("/usr", self.root)
        with open(rules) as f:
            self.assertTrue(f.read().endswith("# edited by an operator\n"))
        self.assertIn(f"-- Keeping: {rules} (the shipped example is in "
                      f"share/doc/baton/examples)", r.stdout)
        self.assertIn(f"-- Keeping: {self.path('etc/baton/batond.conf')}",
                      r.stdout)

    def test_other_prefix(self):
        prefix = os.path.join(self.tmp, "opt", "baton")
        install(prefix)
        with open(os.path.join(prefix, "lib/systemd/system/"
                               "batond.service")) as f:
            unit = f.read()
        self.assertIn(f"\nExecStart={prefix}/sbin/batond -c "
                      f"{prefix}/etc/baton/batond.conf\n", unit)
        self.assertNotIn("/usr/sbin/batond", unit)
        with open(os.path.join(prefix, "lib/tmpfiles.d/baton.conf")) as f:
            self.assertIn(f"{prefix}/etc/baton/connectors.d", f.read())
        self.assertTrue(os.path.isfile(os.path.join(
            prefix, "etc/baton/batond.conf")))
        if shutil.which("systemd-analyze"):
            env = dict(os.environ,
                       MANPATH=os.path.join(prefix, "share/man"))
            r = run(["systemd-analyze", "verify", os.path.join(
                prefix, "lib/systemd/system/batond.service")], env=env,
                check=False)
            self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""))

    def test_deb_package(self):
        need("cpack", "dpkg-deb", "dpkg")
        out = os.path.join(self.tmp, "deb")
        run(["cpack", "-G", "DEB", "--config",
             os.path.join(BUILD_DIR, "CPackConfig.cmake"), "-B", out])
        debs = [f for f in os.listdir(out) if f.endswith(".deb")]
        self.assertEqual(len(debs), 1, debs)
        deb = os.path.join(out, debs[0])

        def field(name):
            return run(["dpkg-deb", "-f", deb, name]).stdout.strip()

        arch = run(["dpkg", "--print-architecture"]).stdout.strip()
        with open(os.path.join(BUILD_DIR, "CMakeCache.txt")) as f:
            version = re.search(r"(?m)^CMAKE_PROJECT_VERSION:STATIC=(.*)$",
                                f.read()).group(1)
        self.assertEqual(debs[0], f"baton_{version}_{arch}.deb")
        self.assertEqual(field("Package"), "baton")
        self.assertEqual(field("Version"), version)
        self.assertEqual(field("Architecture"), arch)
        self.assertEqual(field("Section"), "net")
        self.assertRegex(field("Maintainer"), r"^.+ <.+@.+>$")
        self.assertTrue(field("Description").startswith(
            "lead lifecycle daemon between marketing and sales tools"))
        depends = [d.strip() for d in field("Depends").split(",")]
        names = [d.split()[0] for d in depends]
        for lib in LIBRARY_PACKAGES + ["libc6"]:
            self.assertIn(lib, names, field("Depends"))
        print("Depends:", field("Depends"))

        # Control members: conffiles and the maintainer scripts.
        ctrl = os.path.join(self.tmp, "control")
        run(["dpkg-deb", "-e", deb, ctrl])
        with open(os.path.join(ctrl, "conffiles")) as f:
            self.assertEqual(f.read().split(), ["/etc/baton/batond.conf",
                                                "/etc/baton/rules.conf"])
        for s in ("postinst", "prerm", "postrm"):
            mode = stat.S_IMODE(os.stat(os.path.join(ctrl, s)).st_mode)
            self.assertEqual(mode, 0o755, s)
            run(["sh", "-n", os.path.join(ctrl, s)])
        with open(os.path.join(ctrl, "postinst")) as f:
            post = f.read()
        self.assertIn("systemd-sysusers baton.conf", post)
        self.assertNotIn("enable", re.sub(r"(?m)^#.*$", "", post))

        # The files: the same as the DESTDIR install, owned by root.
        listing = run(["dpkg-deb", "-c", deb]).stdout.splitlines()
        files = {}
        for line in listing:
            parts = line.split()
            perms, owner, path = parts[0], parts[1], parts[5]
            self.assertEqual(owner, "root/root", line)
            rel = path[2:].rstrip("/")
            if rel:
                files[rel] = ("d" if perms[0] == "d" else "f",
                              stat.S_IMODE(_mode(perms)))
        want = tree(self.root)
        self.assertEqual(sorted(files), sorted(want))
        for rel, (kind, mode) in want.items():
            if rel in LAYOUT:
                self.assertEqual(files[rel], (kind, mode), rel)
        # Its unit is the /usr one.
        x = os.path.join(self.tmp, "x")
        run(["dpkg-deb", "-x", deb, x])
        with open(os.path.join(x, "usr/lib/systemd/system/"
                               "batond.service")) as a, \
                open(os.path.join(SRC, "systemd/batond.service")) as b:
            self.assertEqual(a.read(), b.read())


def _mode(perms):
    """st_mode bits of an ls-style "drwxr-x---"."""
    bits = 0
    for i, c in enumerate(perms[1:10]):
        if c != "-":
            bits |= 1 << (8 - i)
    return bits


if __name__ == "__main__":
    harness.main()
